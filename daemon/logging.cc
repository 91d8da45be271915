// SPDX-License-Identifier: MIT
#include "logging.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>

namespace ramsd {
namespace {

constexpr size_t kLogFileBytes = 10u << 20;
constexpr size_t kLogFiles = 5;

std::mutex g_mu;             // guards g_options and g_ready
LogOptions g_options;
bool g_ready = false;

rams::Status Install(const LogOptions& options) {
  std::vector<spdlog::sink_ptr> sinks;
  auto err = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  if (!options.dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.dir, ec);
    if (ec) return rams::Error(ec.value(), "create log directory " + options.dir);
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          options.dir + "/ramsd.log", kLogFileBytes, kLogFiles));
    } catch (const spdlog::spdlog_ex& e) {
      return rams::Error(EIO, std::string("log file in ") + options.dir + ": " + e.what());
    }
    err->set_level(spdlog::level::err);  // the file has the rest
  } else {
    err->set_pattern("%l: %v");  // the journal adds time and program
  }
  sinks.push_back(err);
  auto logger = std::make_shared<spdlog::logger>("ramsd", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return rams::Status::Ok();
}

}  // namespace

bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st{};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

rams::Status SetUpLogging(const LogOptions& options) {
  std::lock_guard lock(g_mu);
  RAMS_RETURN_IF_ERROR(Install(options));
  g_options = options;
  g_ready = true;
  return rams::Status::Ok();
}

rams::Status ReopenLog() {
  std::lock_guard lock(g_mu);
  if (!g_ready || g_options.dir.empty()) return rams::Status::Ok();
  return Install(g_options);
}

bool LoggingReady() {
  std::lock_guard lock(g_mu);
  return g_ready;
}

}  // namespace ramsd
