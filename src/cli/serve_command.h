// `mangaassist serve`: loads config, builds the gateway, serves until SIGINT/SIGTERM, then
// drains gracefully.
#pragma once

#include <string>

namespace mangaassist::cli {

struct ServeOptions {
  std::string config_path;  // empty = embedded defaults
  std::string listen;       // HOST:PORT override; port 0 picks a free port
  int threads = -1;         // -1 = from config
};

int RunServe(const ServeOptions& options);

// `mangaassist config check FILE`: 0 when valid, 2 with a message naming key and line if not.
int RunConfigCheck(const std::string& path);

}  // namespace mangaassist::cli
