// danube::typed_producer<Serializer, Producer>: a producer of values rather than bytes.
//
//   auto p = client.new_producer().topic("/default/orders").name("w").schema("orders-value").build();
//   danube::typed_producer<order_serializer> orders(std::move(*p));
//   if (auto ok = orders.create(); !ok) { ... }
//   auto id = orders.send(order{"o-1", 42});     // result<message_id>; encoding failures too
//
// Everything else is the wrapped producer's behaviour (ordering, schema stamping, recovery).
#pragma once

#include <danube/error.hpp>
#include <danube/message.hpp>
#include <danube/payload.hpp>
#include <danube/producer.hpp>
#include <danube/serializer.hpp>
#include <danube/stats.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <string_view>
#include <utility>

namespace danube {

template <serializer Serializer, class Producer = producer>
class typed_producer {
 public:
  using value_type = typename Serializer::value_type;
  using completion = std::function<void(result<message_id>)>;

  explicit typed_producer(Producer untyped, Serializer serializer = Serializer{})
      : producer_(std::move(untyped)), serializer_(std::move(serializer)) {}

  [[nodiscard]] result<void> create() { return producer_.create(); }

  [[nodiscard]] result<message_id> send(const value_type& value, const attributes& attrs = {}) {
    return with_encoded(serializer_, value,
                        [&](payload_arg payload) { return producer_.send(std::move(payload), attrs); });
  }
  [[nodiscard]] result<message_id> send_with_key(std::string_view key, const value_type& value,
                                                 const attributes& attrs = {}) {
    return with_encoded(serializer_, value,
                        [&](payload_arg payload) { return producer_.send_with_key(key, std::move(payload), attrs); });
  }

  // Queues the encoded value; an encoding failure completes the future at once.
  [[nodiscard]] std::future<result<message_id>> send_async(const value_type& value, const attributes& attrs = {}) {
    auto promise = std::make_shared<std::promise<result<message_id>>>();
    auto future = promise->get_future();
    // Never refused: the callback is set.
    static_cast<void>(
        send_async(value, attrs, [promise](result<message_id> outcome) { promise->set_value(std::move(outcome)); }));
    return future;
  }
  // Callback form: `done` runs once (at once, on this thread, when encoding fails). An empty `done`
  // is refused (errc::invalid_argument).
  [[nodiscard]] result<void> send_async(const value_type& value, const attributes& attrs, completion done) {
    if (!done) {
      return detail::empty_callback("send_async");
    }
    auto started = with_encoded(
        serializer_, value, [&](payload_arg payload) { return producer_.send_async(std::move(payload), attrs, done); });
    if (!started) {
      done(std::unexpected(std::move(started).error()));
    }
    return {};
  }

  [[nodiscard]] result<void> flush() { return producer_.flush(); }
  [[nodiscard]] result<void> flush(std::chrono::steady_clock::time_point deadline) { return producer_.flush(deadline); }
  [[nodiscard]] result<void> flush(std::chrono::milliseconds timeout) { return producer_.flush(timeout); }
  void close() { producer_.close(); }
  [[nodiscard]] producer_stats stats() const { return producer_.stats(); }

  [[nodiscard]] Producer& untyped() noexcept { return producer_; }
  [[nodiscard]] const Serializer& serializer() const noexcept { return serializer_; }

 private:
  Producer producer_;
  Serializer serializer_;
};

}  // namespace danube
