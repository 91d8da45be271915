#include "target.h"

namespace rams::cli {

Result<Backend*> ChooseBackend(const std::string& backend_name) {
  if (backend_name.empty()) return DefaultBackend();
  return BackendByName(backend_name);
}

Result<Segment> OpenTarget(const std::string& target, const std::string& backend_name) {
  RAMS_ASSIGN_OR_RETURN(Backend * backend, ChooseBackend(backend_name));
  return Segment::Open(target, {}, backend);
}

}  // namespace rams::cli
