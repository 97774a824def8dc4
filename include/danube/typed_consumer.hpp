// danube::typed_consumer<Serializer, Consumer>: a consumer of values rather than bytes.
//
//   auto c = client.new_consumer().topic("/default/orders").consumer_name("c").subscription("s").build();
//   danube::typed_consumer<order_serializer> orders(std::move(*c));
//   orders.subscribe();
//   auto m = orders.receive(std::chrono::seconds(1));   // result<typed_message<order>>
//   use(m->value());  orders.ack(*m);
//
// A payload that does not decode is errc::schema from receive(); that message is nacked (so the
// subscription's redelivery and dead-letter policy decides what becomes of it on a reliable
// topic) and the next receive() goes on with the next message.
#pragma once

#include <danube/consumer.hpp>
#include <danube/consumer_options.hpp>
#include <danube/error.hpp>
#include <danube/message.hpp>
#include <danube/serializer.hpp>
#include <danube/stats.hpp>

#include <chrono>
#include <optional>
#include <utility>

namespace danube {

// A decoded value and the message it came in (its id, attributes, schema id and version; the
// payload itself has been moved into the value).
template <class T>
class typed_message {
 public:
  typed_message(T value, danube::message source) : value_(std::move(value)), message_(std::move(source)) {}

  [[nodiscard]] const T& value() const& noexcept { return value_; }
  [[nodiscard]] T& value() & noexcept { return value_; }
  [[nodiscard]] T&& value() && noexcept { return std::move(value_); }
  [[nodiscard]] const danube::message& message() const noexcept { return message_; }

 private:
  T value_;
  danube::message message_;
};

template <serializer Serializer, class Consumer = consumer>
class typed_consumer {
 public:
  using value_type = typename Serializer::value_type;

  explicit typed_consumer(Consumer untyped, Serializer serializer = Serializer{})
      : consumer_(std::move(untyped)), serializer_(std::move(serializer)) {}

  [[nodiscard]] result<void> subscribe() { return consumer_.subscribe(); }

  // The next message, decoded (errc::timeout when none came within `timeout`).
  [[nodiscard]] result<typed_message<value_type>> receive(std::chrono::milliseconds timeout) {
    return decode_(consumer_.receive(timeout));
  }
  [[nodiscard]] result<typed_message<value_type>> try_receive() { return decode_(consumer_.try_receive()); }

  [[nodiscard]] result<void> ack(const typed_message<value_type>& m) { return consumer_.ack(m.message()); }
  [[nodiscard]] result<void> nack(const typed_message<value_type>& m, const nack_options& options = {}) {
    return consumer_.nack(m.message(), options);
  }

  void close() { consumer_.close(); }
  [[nodiscard]] consumer_stats stats() const { return consumer_.stats(); }

  [[nodiscard]] Consumer& untyped() noexcept { return consumer_; }
  [[nodiscard]] const Serializer& serializer() const noexcept { return serializer_; }

 private:
  [[nodiscard]] result<typed_message<value_type>> decode_(result<message> received) {
    if (!received) {
      return std::unexpected(std::move(received).error());
    }
    auto value = decode(serializer_, *received);
    if (!value) {
      // Not acknowledged, not lost: handed back to the broker's redelivery policy. The answer is
      // not awaited (the future of an std::promise does not block when dropped).
      static_cast<void>(
          consumer_.nack_async(*received, nack_options{std::chrono::milliseconds(0), value.error().message()}));
      return std::unexpected(std::move(value).error());
    }
    return typed_message<value_type>(std::move(*value), std::move(*received));
  }

  Consumer consumer_;
  Serializer serializer_;
};

}  // namespace danube
