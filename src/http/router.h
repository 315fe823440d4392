// Router: dispatches (method, exact path) to a handler function and answers 404/405 with the
// canonical JSON error. Routes are added at start-up; Handle() is then read-only and
// thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "http/server.h"

namespace mangaassist::http {

using HandlerFn = std::function<boost::asio::awaitable<Response>(Request&, RequestInfo&)>;

class Router final : public Handler {
 public:
  void Add(boost::beast::http::verb method, std::string path, HandlerFn fn);
  boost::asio::awaitable<Response> Handle(Request& request, RequestInfo& info) override;

 private:
  struct Route {
    boost::beast::http::verb method;
    std::string path;
    HandlerFn fn;
  };
  std::vector<Route> routes_;
};

}  // namespace mangaassist::http
