// Schema registry: register a JSON Schema, publish typed values with it (every message carries the
// schema id and version), enforce it on the topic, and read the values back decoded.
// Runs against an embedded broker in this process; against a real cluster, pass its URL instead.
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace {

struct reading {
  std::string sensor;
  double celsius = 0;
};

// A user-written serializer: any type with value_type, encode and decode plugs in. A real
// application would use its JSON library here; this one writes and reads its own fixed layout.
struct reading_serializer {
  using value_type = reading;

  [[nodiscard]] std::string encode(const reading& r) const {
    return fmt::format(R"({{"sensor":{},"celsius":{}}})", danube::json_text::quote(r.sensor), r.celsius);
  }

  [[nodiscard]] danube::result<reading> decode(std::string_view payload) const {
    constexpr std::string_view prefix = R"({"sensor":")";
    constexpr std::string_view middle = R"(","celsius":)";
    const auto split = payload.find(middle);
    if (!payload.starts_with(prefix) || split == std::string_view::npos || !payload.ends_with("}")) {
      return danube::unexpected_error(danube::errc::schema, "not a reading: " + std::string(payload));
    }
    reading r;
    r.sensor = payload.substr(prefix.size(), split - prefix.size());
    const auto number = payload.substr(split + middle.size(), payload.size() - split - middle.size() - 1);
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), r.celsius);
    if (ec != std::errc() || end != number.data() + number.size()) {
      return danube::unexpected_error(danube::errc::schema, "not a temperature: " + std::string(number));
    }
    return r;
  }
};

constexpr std::string_view reading_schema = R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Reading",
  "type": "object",
  "properties": {
    "sensor": { "type": "string" },
    "celsius": { "type": "number" }
  },
  "required": ["sensor", "celsius"]
})";

int fail(const danube::error& e) {
  fmt::print(stderr, "error: {}\n", e);
  return 1;
}

}  // namespace

int main() {
  auto broker = danube::testing::embedded_broker::start();
  if (!broker) {
    return fail(broker.error());
  }
  auto client = danube::client::builder().service_url(broker->url()).build();
  if (!client) {
    return fail(client.error());
  }

  // 1. Register the schema under a subject (a second run with the same text is not a new version).
  const auto registry = client->schema_registry();
  auto registered = registry.register_schema("readings-value")
                        .type(danube::schema_type::json_schema)
                        .definition(std::string(reading_schema))
                        .description("temperature readings")
                        .tags({"example"})
                        .execute();
  if (!registered) {
    return fail(registered.error());
  }
  fmt::print("registered subject readings-value: schema id {}, version {}, {}\n", registered->schema_id,
             registered->version, registered->fingerprint);

  // 2. A producer with the subject binds the topic to it and stamps its id and version on every
  //    message; the typed facade encodes values with the serializer.
  const std::string topic = "/default/readings";
  auto producer = client->new_producer().topic(topic).name("thermometer").schema("readings-value").build();
  if (!producer) {
    return fail(producer.error());
  }
  danube::typed_producer<reading_serializer> readings(std::move(*producer));
  if (auto created = readings.create(); !created) {
    return fail(created.error());
  }

  // 3. From now on the broker refuses messages of this topic without the subject's schema id.
  if (auto enforced = registry.configure_topic_schema(topic, "readings-value", danube::validation_policy::enforce);
      !enforced) {
    return fail(enforced.error());
  }

  auto consumer = client->new_consumer().topic(topic).consumer_name("dashboard").subscription("dashboard").build();
  if (!consumer) {
    return fail(consumer.error());
  }
  danube::typed_consumer<reading_serializer> dashboard(std::move(*consumer));
  if (auto subscribed = dashboard.subscribe(); !subscribed) {
    return fail(subscribed.error());
  }

  for (const auto& r : {reading{"kitchen", 21.5}, reading{"garage", 12.25}, reading{"attic", 27}}) {
    if (auto sent = readings.send(r); !sent) {
      return fail(sent.error());
    }
  }

  for (int i = 0; i < 3; ++i) {
    auto m = dashboard.receive(std::chrono::seconds(5));
    if (!m) {
      return fail(m.error());
    }
    fmt::print("{}: {} °C (schema id {}, version {})\n", m->value().sensor, m->value().celsius,
               m->message().schema_id().value_or(0), m->message().schema_version().value_or(0));
    if (auto acked = dashboard.ack(*m); !acked) {
      return fail(acked.error());
    }
  }

  // 4. Read the schema back: the text exactly as registered.
  auto latest = registry.latest("readings-value");
  if (!latest) {
    return fail(latest.error());
  }
  fmt::print("latest version {} ({} mode):\n{}\n", latest->version, danube::to_string(latest->compatibility),
             latest->definition());
  std::fflush(stdout);
  return 0;
}
