#include "http/router.h"

#include "absl/strings/str_cat.h"

namespace mangaassist::http {

namespace bhttp = boost::beast::http;

void Router::Add(bhttp::verb method, std::string path, HandlerFn fn) {
  routes_.push_back(Route{method, std::move(path), std::move(fn)});
}

boost::asio::awaitable<Response> Router::Handle(Request& request, RequestInfo& info) {
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  std::string allowed;
  for (const Route& r : routes_) {
    if (r.path != path) continue;
    if (r.method == request.method()) {
      info.route = r.path;
      co_return co_await r.fn(request, info);
    }
    absl::StrAppend(&allowed, allowed.empty() ? "" : ", ",
                    std::string(bhttp::to_string(r.method)));
  }
  if (!allowed.empty()) {
    info.route = std::string(path);
    Response res = ErrorResponse(
        absl::InvalidArgumentError(absl::StrCat("method not allowed; use ", allowed)),
        info.request_id);
    res.result(bhttp::status::method_not_allowed);
    res.set(bhttp::field::allow, allowed);
    co_return res;
  }
  co_return ErrorResponse(absl::NotFoundError("no such endpoint"), info.request_id);
}

}  // namespace mangaassist::http
