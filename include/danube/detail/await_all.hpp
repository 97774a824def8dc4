// Starts an asynchronous operation on each of a set of objects at once (every partition of a
// producer registering, every partition of a consumer subscribing) and waits for all of them: no
// thread per partition, and the caller learns the first failure.
#pragma once

#include <danube/error.hpp>

#include <future>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace danube::detail {

// `start(object, done)` for every object; `done(result<void>)` must run exactly once each.
template <class Objects, class Start>
[[nodiscard]] std::optional<error> start_all_and_wait(const Objects& objects, Start start) {
  std::vector<std::future<result<void>>> outcomes;
  outcomes.reserve(objects.size());
  for (const auto& object : objects) {
    auto promise = std::make_shared<std::promise<result<void>>>();
    outcomes.push_back(promise->get_future());
    start(*object, [promise](result<void> outcome) { promise->set_value(std::move(outcome)); });
  }
  std::optional<error> failure;
  for (auto& outcome : outcomes) {
    if (auto ok = outcome.get(); !ok && !failure) {
      failure = std::move(ok).error();
    }
  }
  return failure;
}

}  // namespace danube::detail
