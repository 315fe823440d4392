// Test helpers for the upstream client tests: run one coroutine (or several concurrently) to
// completion on a test-owned io_context. Test-only; not thread-safe (one io_context per thread).
#pragma once

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace mangaassist::http::test_support {

// Runs `task` on `ioc` from the calling thread until it completes and returns its result.
template <class T>
T RunTask(boost::asio::io_context& ioc, boost::asio::awaitable<T> task) {
  std::optional<T> result;
  std::exception_ptr error;
  boost::asio::co_spawn(ioc, std::move(task), [&result, &error](std::exception_ptr e, T value) {
    if (e) {
      error = e;
    } else {
      result.emplace(std::move(value));
    }
  });
  ioc.restart();
  // run_one, not run: a finished call may leave a timer of its own behind (e.g. a retry wait
  // that was cut short), which must not keep the test waiting.
  while (!result.has_value() && !error && ioc.run_one() > 0) {
  }
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

// Runs all `tasks` concurrently on `ioc` and returns their results in order.
template <class T>
std::vector<T> RunAll(boost::asio::io_context& ioc, std::vector<boost::asio::awaitable<T>> tasks) {
  std::vector<std::optional<T>> results(tasks.size());
  size_t done = 0;
  std::exception_ptr error;
  for (size_t i = 0; i < tasks.size(); ++i) {
    boost::asio::co_spawn(ioc, std::move(tasks[i]),
                          [&results, &done, &error, i](std::exception_ptr e, T value) {
                            if (e) error = e;
                            if (!e) results[i].emplace(std::move(value));
                            ++done;
                          });
  }
  ioc.restart();
  while (done < results.size() && ioc.run_one() > 0) {
  }
  if (error) std::rethrow_exception(error);
  std::vector<T> out;
  for (auto& r : results) out.push_back(std::move(*r));
  return out;
}

}  // namespace mangaassist::http::test_support
