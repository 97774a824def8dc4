// The serializer concept: how a typed producer turns values into payloads and a typed consumer
// turns payloads back into values (typed_producer.hpp, typed_consumer.hpp), with built-ins for
// text, bytes and JSON text. A user's own serializer plugs in unchanged:
//
//   struct order_serializer {
//     using value_type = order;
//     danube::result<std::string> encode(const order& o) const;    // or std::string, bytes, ...
//     danube::result<order> decode(std::string payload) const;      // the received payload, moved in
//   };
//
// encode() returns anything a send accepts as a payload (std::string, which is then moved into
// the request; std::string_view; std::vector<std::byte>; a span of bytes), or a result<> of one
// when encoding can fail. decode() is called with the payload as an rvalue std::string (so it may
// take it over, or view it) and returns result<value_type>; a failure should be errc::schema
// (typed consumers report every decode failure as errc::schema).
#pragma once

#include <danube/error.hpp>
#include <danube/json_text.hpp>
#include <danube/message.hpp>
#include <danube/payload.hpp>
#include <danube/topic_name.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace danube {

namespace detail {
template <class T>
struct result_traits : std::false_type {};
template <class T>
struct result_traits<result<T>> : std::true_type {
  using value_type = T;
};
}  // namespace detail

// Something a send accepts as its payload.
template <class T>
concept payload_source = std::constructible_from<payload_arg, T>;

// What encode() may return: a payload, or result<payload>.
template <class T>
concept encoded_payload = payload_source<T> ||
    (detail::result_traits<T>::value&& payload_source<typename detail::result_traits<T>::value_type>);

template <class S>
concept serializer = requires {
  typename S::value_type;
}
&&requires(const S& s, const typename S::value_type& value, std::string payload) {
  { s.encode(value) } -> encoded_payload;
  { s.decode(std::move(payload)) } -> std::same_as<result<typename S::value_type>>;
};

// Encodes `value` and hands the payload (as a payload_arg, valid during the call) to `use`, which
// returns result<R>; an encoding failure is returned without calling it.
template <serializer S, class Use>
auto with_encoded(const S& s, const typename S::value_type& value, Use&& use) -> decltype(use(payload_arg(""))) {
  auto encoded = s.encode(value);
  if constexpr (detail::result_traits<decltype(encoded)>::value) {
    if (!encoded) {
      return std::unexpected(std::move(encoded).error());
    }
    return std::forward<Use>(use)(payload_arg(std::move(*encoded)));
  } else {
    return std::forward<Use>(use)(payload_arg(std::move(encoded)));
  }
}

// Decodes a received message's payload (moved out of `m`; its other fields, and so ack/nack,
// stay usable). Every failure is errc::schema, naming where the message came from.
template <serializer S>
[[nodiscard]] result<typename S::value_type> decode(const S& s, message& m) {
  auto decoded = s.decode(m.take_payload());
  if (!decoded) {
    return unexpected_error(errc::schema, "cannot decode the message at offset " + std::to_string(m.offset()) + " of " +
                                              m.topic() + ": " + decoded.error().message());
  }
  return decoded;
}

// Text: UTF-8 checked both ways (the broker's "string" schema type requires it).
struct string_serializer {
  using value_type = std::string;

  [[nodiscard]] result<std::string_view> encode(const std::string& value) const {
    if (!is_valid_utf8(value)) {
      return unexpected_error(errc::schema, "the text is not valid UTF-8");
    }
    return std::string_view(value);
  }
  [[nodiscard]] result<std::string> decode(std::string payload) const {
    if (!is_valid_utf8(payload)) {
      return unexpected_error(errc::schema, "the payload is not valid UTF-8 text");
    }
    return payload;
  }
};

// Raw bytes, unchanged.
struct bytes_serializer {
  using value_type = std::vector<std::byte>;

  [[nodiscard]] std::span<const std::byte> encode(const std::vector<std::byte>& value) const noexcept { return value; }
  [[nodiscard]] result<std::vector<std::byte>> decode(std::string payload) const {
    const auto bytes = std::as_bytes(std::span(payload.data(), payload.size()));
    return std::vector<std::byte>(bytes.begin(), bytes.end());
  }
};

// JSON text, checked to be well-formed both ways unless `validate` is false.
struct json_serializer {
  using value_type = json_text;
  bool validate = true;

  [[nodiscard]] result<std::string_view> encode(const json_text& value) const {
    if (validate && !json_text::is_valid(value.text())) {
      return unexpected_error(errc::schema, "the JSON text is not well-formed");
    }
    return value.text();
  }
  [[nodiscard]] result<json_text> decode(std::string payload) const {
    if (validate) {
      return json_text::parse(std::move(payload));
    }
    return json_text(std::move(payload));
  }
};

static_assert(serializer<string_serializer>);
static_assert(serializer<bytes_serializer>);
static_assert(serializer<json_serializer>);

}  // namespace danube
