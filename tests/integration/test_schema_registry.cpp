// The schema registry through our client against the embedded broker: every registry RPC,
// scenarios 28-34 of docs/protocol.md §11, producer version selection,
// subject binding, validation policies on publish, and typed producers and consumers.
#include "support/test_support.hpp"
#include <danube/detail/proto.hpp>
#include <danube/detail/schema_wire.hpp>
#include <danube/testing/embedded_cluster.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

using namespace std::chrono_literals;
using danube_test::require_ok;

namespace schema_registry_test {

// v1 of the scenarios' JSON Schema: required name and age.
inline constexpr std::string_view person_v1 =
    R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]})";
// v1 plus an optional email: backward (and forward) compatible.
inline constexpr std::string_view person_v1_email =
    R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"email":{"type":"string"}},"required":["name","age"]})";
// v1 without age: drops a required field.
inline constexpr std::string_view person_no_age =
    R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"]})";

inline danube::schema_registration register_json(const danube::schema_registry& registry, const std::string& subject,
                                                 std::string_view definition) {
  return require_ok(registry.register_schema(subject)
                        .type(danube::schema_type::json_schema)
                        .definition(std::string(definition))
                        .execute());
}

inline danube::consumer subscribe(danube::client& client, const std::string& topic, const std::string& name) {
  auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name(name).subscription(name).build());
  require_ok(consumer.subscribe());
  return consumer;
}

// The error's code and message, for CHECKs.
template <class T>
danube::error error_of(const danube::result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

inline bool contains(const std::string& text, std::string_view fragment) {
  return text.find(fragment) != std::string::npos;
}

// The registry's stub on the broker, for requests our client would not send.
inline std::unique_ptr<danube_schema::SchemaRegistry::Stub> registry_stub(
    const danube::testing::embedded_broker& broker) {
  return danube_schema::SchemaRegistry::NewStub(
      grpc::CreateChannel(fmt::format("127.0.0.1:{}", broker.port()), grpc::InsecureChannelCredentials()));
}

inline std::vector<std::string> subject_order(const danube::schema_registry& registry) {
  std::vector<std::string> names;
  for (const auto& summary : require_ok(registry.list_subjects())) {
    names.push_back(summary.subject);
  }
  return names;
}

}  // namespace schema_registry_test

TEST_SUITE("schema_registry") {
  using namespace schema_registry_test;

  TEST_CASE("scenario 28: versions of a subject share its schema_id, identical content is not a new version") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();

    const auto v1 = register_json(registry, "people-28", person_v1);
    CHECK(v1.version == 1);
    CHECK(v1.is_new_version);
    CHECK(v1.schema_id >= 1);
    CHECK(v1.fingerprint.starts_with("sha256:"));
    CHECK(v1.fingerprint.size() == 7 + 64);

    const auto v2 = register_json(registry, "people-28", person_v1_email);
    CHECK(v2.schema_id == v1.schema_id);
    CHECK(v2.version == 2);
    CHECK(v2.is_new_version);

    const auto latest = require_ok(registry.latest("people-28"));
    CHECK(latest.version == 2);
    CHECK(latest.schema_id == v1.schema_id);

    // The same content again, even with other whitespace, is version 1 again and nothing changes.
    const auto again = register_json(
        registry, "people-28",
        R"({ "type": "object", "properties": { "name": {"type":"string"}, "age": {"type":"integer"} }, "required": ["name","age"] })");
    CHECK_FALSE(again.is_new_version);
    CHECK(again.version == 1);
    CHECK(again.schema_id == v1.schema_id);
    CHECK(again.fingerprint == v1.fingerprint);
    CHECK(require_ok(registry.versions("people-28")).size() == 2);

    // Another subject gets another id.
    const auto other = register_json(registry, "animals-28", person_v1);
    CHECK(other.schema_id != v1.schema_id);
    CHECK(other.version == 1);
  }

  TEST_CASE("every registry RPC through the client, with every field") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    const auto before = std::chrono::system_clock::now() - 2s;

    // RegisterSchema with its metadata.
    const auto reg = require_ok(registry.register_schema("orders-value")
                                    .type(danube::schema_type::json_schema)
                                    .definition(std::string(person_v1))
                                    .description("people, v1")
                                    .created_by("the-tests")
                                    .tags({"team-a", "pii"})
                                    .execute());
    const auto reg2 = require_ok(registry.register_schema("orders-value")
                                     .type(danube::schema_type::json_schema)
                                     .definition(std::string(person_v1_email))
                                     .description("people, v2")
                                     .execute());

    // GetSchema by id (latest) and by id + version: the definition is the registered text, the
    // broker's envelope removed.
    const auto latest_by_id = require_ok(registry.get_schema(reg.schema_id));
    CHECK(latest_by_id.version == 2);
    CHECK(latest_by_id.definition() == person_v1_email);
    CHECK(latest_by_id.created_by == "danube-cpp");  // the default
    const auto first = require_ok(registry.get_schema(reg.schema_id, 1));
    CHECK(first.schema_id == reg.schema_id);
    CHECK(first.version == 1);
    CHECK(first.subject == "orders-value");
    CHECK(first.type == danube::schema_type::json_schema);
    CHECK(first.definition() == person_v1);
    CHECK(first.description == "people, v1");
    CHECK(first.created_by == "the-tests");
    CHECK(first.tags == std::vector<std::string>{"team-a", "pii"});
    CHECK(first.fingerprint == reg.fingerprint);
    CHECK(first.compatibility == danube::compatibility_mode::backward);
    CHECK(first.created_at >= before);
    CHECK(first.created_at <= std::chrono::system_clock::now() + 2s);

    // GetLatestSchema.
    const auto latest = require_ok(registry.latest("orders-value"));
    CHECK(latest == latest_by_id);

    // ListVersions, every field.
    const auto versions = require_ok(registry.versions("orders-value"));
    REQUIRE(versions.size() == 2);
    CHECK(versions[0].version == 1);
    CHECK(versions[0].created_by == "the-tests");
    CHECK(versions[0].description == "people, v1");
    CHECK(versions[0].fingerprint == reg.fingerprint);
    CHECK(versions[0].schema_id == reg.schema_id);
    CHECK(versions[0].created_at >= before);
    CHECK(versions[1].version == 2);
    CHECK(versions[1].fingerprint == reg2.fingerprint);

    // CheckCompatibility, with and without a mode override.
    const auto bad = require_ok(
        registry.check_compatibility("orders-value", std::string(person_no_age), danube::schema_type::json_schema));
    CHECK_FALSE(bad.compatible);
    CHECK(bad.errors == std::vector<std::string>{"Backward incompatible: removed required field 'age'"});
    const auto forced =
        require_ok(registry.check_compatibility("orders-value", std::string(person_no_age),
                                                danube::schema_type::json_schema, danube::compatibility_mode::none));
    CHECK(forced.compatible);
    CHECK(forced.errors.empty());

    // SetCompatibilityMode.
    CHECK(require_ok(registry.set_compatibility_mode("orders-value", danube::compatibility_mode::full)) ==
          "Set compatibility mode to full for subject orders-value");
    CHECK(require_ok(registry.latest("orders-value")).compatibility == danube::compatibility_mode::full);

    // ListSubjects.
    require_ok(registry.register_schema("raw-bytes").type(danube::schema_type::bytes).tag("blob").execute());
    // In no particular order: upstream lists a hash set (docs/protocol.md §8.3).
    auto subjects = require_ok(registry.list_subjects());
    REQUIRE(subjects.size() == 2);
    std::ranges::sort(subjects, {}, [](const auto& summary) { return summary.subject; });
    CHECK(subjects[0].subject == "orders-value");
    CHECK(subjects[0].type == danube::schema_type::json_schema);
    CHECK(subjects[0].latest_version == 2);
    CHECK(subjects[0].compatibility == danube::compatibility_mode::full);
    CHECK(subjects[0].schema_id == reg.schema_id);
    CHECK(subjects[1].subject == "raw-bytes");
    CHECK(subjects[1].type == danube::schema_type::bytes);
    CHECK(subjects[1].tags == std::vector<std::string>{"blob"});

    // DeleteSchemaVersion: the version is gone.
    CHECK(require_ok(registry.delete_version("orders-value", 1)) == "Deleted version 1 for subject orders-value");
    CHECK(require_ok(registry.versions("orders-value")).size() == 1);
    CHECK(error_of(registry.get_schema(reg.schema_id, 1)).code() == danube::errc::not_found);

    // The topic's schema settings: configure, read, update.
    const auto topic = danube_test::unique_topic("rpcs");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    const auto initial = require_ok(registry.topic_schema_config(topic));
    CHECK(initial.subject.empty());
    CHECK(initial.policy == danube::validation_policy::warn);
    CHECK_FALSE(initial.payload_validation);
    CHECK(require_ok(registry.configure_topic_schema(topic, "orders-value", danube::validation_policy::enforce)) ==
          fmt::format("Topic '{}' configured with schema 'orders-value', validation policy 'Enforce', payload "
                      "validation disabled",
                      topic));
    const auto configured = require_ok(registry.topic_schema_config(topic));
    CHECK(configured.subject == "orders-value");
    CHECK(configured.policy == danube::validation_policy::enforce);
    CHECK(configured.schema_id == reg.schema_id);
    CHECK(require_ok(registry.update_topic_validation_policy(topic, danube::validation_policy::none, true)) ==
          "Validation policy updated to 'None', payload validation enabled");
    const auto updated = require_ok(registry.topic_schema_config(topic));
    CHECK(updated.policy == danube::validation_policy::none);
    CHECK(updated.payload_validation);

    // Each of the 11 RPCs reached the broker.
    using danube::testing::rpc;
    for (const auto method :
         {rpc::register_schema, rpc::get_schema, rpc::get_latest_schema, rpc::list_versions, rpc::check_compatibility,
          rpc::delete_schema_version, rpc::set_compatibility_mode, rpc::configure_topic_schema,
          rpc::update_topic_validation_policy, rpc::get_topic_schema_config, rpc::list_subjects}) {
      CHECK_MESSAGE(broker.calls(method) >= 1, danube::testing::to_string(method));
    }
  }

  TEST_CASE("definitions of every type come back as registered") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();

    const std::string json_text = "{\n  \"type\": \"string\",\n  \"description\": \"quotes \\\" and \\u00e9\"\n}";
    const auto json = require_ok(
        registry.register_schema("json-def").type(danube::schema_type::json_schema).definition(json_text).execute());
    auto info = require_ok(registry.get_schema(json.schema_id));
    CHECK(info.definition() == json_text);
    CHECK(std::string(reinterpret_cast<const char*>(info.definition_bytes().data()), info.definition_bytes().size()) ==
          json_text);
    CHECK(info.take_definition() == json_text);
    CHECK(info.definition().empty());

    const std::string avro_text =
        R"({"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]})";
    const auto avro = require_ok(
        registry.register_schema("avro-def").type(danube::schema_type::avro).definition(avro_text).execute());
    CHECK(require_ok(registry.latest("avro-def")).definition() == avro_text);
    CHECK(avro.fingerprint.starts_with("sha256:"));

    const std::string proto_text = "syntax = \"proto3\";\nmessage User { string name = 1; }\n";
    require_ok(
        registry.register_schema("proto-def").type(danube::schema_type::protobuf).definition(proto_text).execute());
    const auto proto = require_ok(registry.latest("proto-def"));
    CHECK(proto.type == danube::schema_type::protobuf);
    CHECK(proto.definition() == proto_text);

    for (const auto type : {danube::schema_type::bytes, danube::schema_type::string, danube::schema_type::number}) {
      const auto subject = fmt::format("plain-{}", danube::to_string(type));
      const auto reg = require_ok(registry.register_schema(subject).type(type).execute());
      CHECK(reg.fingerprint == danube::to_string(type));
      const auto plain = require_ok(registry.latest(subject));
      CHECK(plain.type == type);
      CHECK(plain.definition().empty());
    }
  }

  TEST_CASE("the broker's errors reach the caller with its codes and messages") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();

    auto e = error_of(registry.get_schema(999));
    CHECK(e.code() == danube::errc::not_found);
    CHECK(e.message() == "Schema not found for ID: 999");
    e = error_of(registry.latest("nobody"));
    CHECK(e.code() == danube::errc::not_found);
    CHECK(e.message() == "Schema not found for subject: nobody");
    e = error_of(registry.versions("nobody"));
    CHECK(e.code() == danube::errc::not_found);
    CHECK(e.message() == "Subject not found: nobody");
    e = error_of(registry.set_compatibility_mode("nobody", danube::compatibility_mode::none));
    CHECK(e.code() == danube::errc::internal);
    CHECK(e.message() == "Failed to set compatibility mode: Schema metadata not found for subject: nobody");
    e = error_of(registry.check_compatibility("nobody", "{}", danube::schema_type::json_schema));
    CHECK(e.code() == danube::errc::internal);
    CHECK(contains(e.message(), "Failed to check compatibility"));
    e = error_of(
        registry.register_schema("broken").type(danube::schema_type::json_schema).definition("{not json").execute());
    CHECK(e.code() == danube::errc::internal);
    CHECK(contains(e.message(), "Failed to register schema: Invalid JSON in schema"));
    e = error_of(registry.register_schema("broken")
                     .type(danube::schema_type::json_schema)
                     .definition(R"({"type":7})")
                     .execute());
    CHECK(contains(e.message(), "Failed to register schema: Invalid JSON Schema"));
    e = error_of(registry.register_schema("broken")
                     .type(danube::schema_type::avro)
                     .definition(R"({"type":"record"})")
                     .execute());
    CHECK(contains(e.message(), "Failed to register schema: Invalid Avro schema"));
    const auto topic = danube_test::unique_topic("nowhere");
    e = error_of(registry.topic_schema_config(topic));
    CHECK(e.code() == danube::errc::not_found);
    CHECK(e.message() == fmt::format("Topic '{}' not found on this broker", topic));
    register_json(registry, "known", person_v1);
    e = error_of(registry.configure_topic_schema(topic, "known", danube::validation_policy::warn));
    CHECK(e.message() == fmt::format("Topic '{}' not found on this broker", topic));
    e = error_of(registry.configure_topic_schema(topic, "unknown", danube::validation_policy::warn));
    CHECK(e.code() == danube::errc::not_found);
    CHECK(contains(e.message(), "Schema subject 'unknown' not found in registry"));

    // Checked before any call.
    CHECK(error_of(registry.register_schema("").type(danube::schema_type::bytes).execute()).code() ==
          danube::errc::invalid_argument);
    CHECK(error_of(registry.register_schema("s").definition("{}").execute()).code() == danube::errc::invalid_argument);
    CHECK(error_of(registry.register_schema("s").type(danube::schema_type::json_schema).execute()).code() ==
          danube::errc::invalid_argument);
    CHECK(error_of(registry.get_schema(0)).code() == danube::errc::invalid_argument);
    CHECK(error_of(registry.topic_schema_config("not/a-topic")).code() == danube::errc::invalid_argument);

    client.close();
    CHECK(error_of(registry.list_subjects()).code() == danube::errc::closed);
  }

  TEST_CASE("scenario 29: a producer's messages carry its subject's schema_id and version") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    const auto reg = register_json(registry, "stamped", person_v1);
    const auto topic = danube_test::unique_topic("stamped");

    auto producer = require_ok(client.new_producer().topic(topic).name("p").schema("stamped").build());
    require_ok(producer.create());
    REQUIRE(producer.schema().has_value());
    CHECK(*producer.schema() == danube::resolved_schema{reg.schema_id, 1});
    auto consumer = subscribe(client, topic, "c");
    require_ok(producer.send(R"({"name":"Ada","age":36})"));
    const auto m = require_ok(consumer.receive(10s));
    CHECK(m.schema_id() == reg.schema_id);
    CHECK(m.schema_version() == 1U);
    CHECK(require_ok(registry.topic_schema_config(topic)).subject == "stamped");

    // A producer without a schema stamps nothing.
    auto plain = require_ok(client.new_producer().topic(topic).name("plain").build());
    require_ok(plain.create());
    CHECK_FALSE(plain.schema().has_value());
    require_ok(plain.send("no schema"));
    const auto unstamped = require_ok(consumer.receive(10s));
    CHECK_FALSE(unstamped.schema_id().has_value());
    CHECK_FALSE(unstamped.schema_version().has_value());
  }

  TEST_CASE("scenario 29 on partitions: every partition is bound and every message stamped") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    const auto reg = register_json(registry, "partitioned", person_v1);
    const auto topic = danube_test::unique_topic("stamped-parts");
    auto producer =
        require_ok(client.new_producer().topic(topic).name("p").partitions(3).schema("partitioned").build());
    require_ok(producer.create());
    auto consumer = subscribe(client, topic, "c");
    for (int i = 0; i < 3; ++i) {
      require_ok(producer.send(R"({"name":"x","age":1})"));
    }
    for (int i = 0; i < 3; ++i) {
      const auto m = require_ok(consumer.receive(10s));
      CHECK(m.schema_id() == reg.schema_id);
      CHECK(m.schema_version() == 1U);
    }
    for (int i = 0; i < 3; ++i) {
      CHECK(require_ok(registry.topic_schema_config(danube::partition_topic_name(topic, static_cast<std::uint32_t>(i))))
                .subject == "partitioned");
    }
  }

  TEST_CASE("scenario 30: a producer with an unregistered subject is refused") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("unregistered");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").schema("non-existent-schema").build());
    const auto e = error_of(producer.create());
    CHECK(e.code() == danube::errc::failed_precondition);
    CHECK(contains(e.message(), "not found"));
    CHECK(e.message() == fmt::format("Failed to assign schema 'non-existent-schema' to topic '{}': Schema subject "
                                     "'non-existent-schema' not found in registry. Please register schema first.. "
                                     "Ensure schema is registered first.",
                                     topic));
    CHECK(error_of(producer.send("x")).code() == danube::errc::failed_precondition);
  }

  TEST_CASE("scenario 31: the first producer binds the topic to its subject") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    register_json(registry, "event-schema", person_v1);
    register_json(registry, "event-schema", person_v1_email);
    register_json(registry, "other-schema", person_v1);
    const auto topic = danube_test::unique_topic("locked");

    auto first = require_ok(client.new_producer().topic(topic).name("first").schema("event-schema").build());
    require_ok(first.create());

    auto intruder = require_ok(client.new_producer().topic(topic).name("intruder").schema("other-schema").build());
    const auto e = error_of(intruder.create());
    CHECK(e.code() == danube::errc::failed_precondition);
    CHECK(contains(e.message(), "cannot use"));
    CHECK(contains(e.message(), "event-schema"));
    CHECK(e.message() == fmt::format("Topic '{}' uses schema subject 'event-schema', cannot use 'other-schema'. Only "
                                     "admin can change topic schema.",
                                     topic));

    // The same subject at another version, and a producer without schema, are accepted.
    auto pinned_v1 =
        require_ok(client.new_producer().topic(topic).name("v1").schema("event-schema").schema_version(1).build());
    require_ok(pinned_v1.create());
    auto plain = require_ok(client.new_producer().topic(topic).name("plain").build());
    require_ok(plain.create());
    auto consumer = subscribe(client, topic, "c");
    require_ok(first.send(R"({"name":"a","age":1})"));
    require_ok(pinned_v1.send(R"({"name":"b","age":2})"));
    require_ok(plain.send("plain"));
    CHECK(require_ok(consumer.receive(10s)).schema_version() == 2U);
    CHECK(require_ok(consumer.receive(10s)).schema_version() == 1U);
    CHECK_FALSE(require_ok(consumer.receive(10s)).schema_version().has_value());
  }

  TEST_CASE("scenario 32: backward compatibility (the default mode)") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    register_json(registry, "backward", person_v1);

    const auto e = error_of(registry.register_schema("backward")
                                .type(danube::schema_type::json_schema)
                                .definition(std::string(person_no_age))
                                .execute());
    CHECK(e.code() == danube::errc::internal);
    CHECK(contains(e.message(), "not compatible"));
    CHECK(e.message() ==
          "Failed to register schema: Schema is not compatible with subject 'backward' (mode: Backward): Backward "
          "incompatible: removed required field 'age'");
    CHECK(require_ok(registry.versions("backward")).size() == 1);

    CHECK(register_json(registry, "backward", person_v1_email).version == 2);

    // Making an optional field required, and changing a type, are refused too.
    const auto stricter = error_of(
        registry.register_schema("backward")
            .type(danube::schema_type::json_schema)
            .definition(
                R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"string"},"email":{"type":"string"}},"required":["name","age","email"]})")
            .execute());
    CHECK(contains(stricter.message(), "Backward incompatible: made optional field 'email' required"));
    CHECK(contains(stricter.message(), "Backward incompatible: changed type of field 'age'"));

    // Another schema type is refused unless the mode is none.
    const auto retyped = error_of(registry.register_schema("backward").type(danube::schema_type::string).execute());
    CHECK(contains(retyped.message(), "Schema types must match (cannot change from Avro to JSON, etc.)"));
  }

  TEST_CASE("scenario 33: forward, full and none - CheckCompatibility registers nothing") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();

    // forward: adding a required field fails, removing an optional one succeeds.
    register_json(registry, "forward", person_v1_email);
    require_ok(registry.set_compatibility_mode("forward", danube::compatibility_mode::forward));
    const auto added = error_of(
        registry.register_schema("forward")
            .type(danube::schema_type::json_schema)
            .definition(
                R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"email":{"type":"string"},"id":{"type":"string"}},"required":["name","age","id"]})")
            .execute());
    CHECK(contains(added.message(), "(mode: Forward): Forward incompatible: added new required field 'id'"));
    CHECK(register_json(registry, "forward", person_v1).version == 2);

    // full: adding an optional field succeeds, removing a required one fails.
    register_json(registry, "full", person_v1);
    require_ok(registry.set_compatibility_mode("full", danube::compatibility_mode::full));
    CHECK(register_json(registry, "full", person_v1_email).version == 2);
    const auto removed = error_of(registry.register_schema("full")
                                      .type(danube::schema_type::json_schema)
                                      .definition(std::string(person_no_age))
                                      .execute());
    CHECK(contains(removed.message(), "(mode: Full): Backward incompatible: removed required field 'age'"));

    // none: anything goes, even another type.
    register_json(registry, "anything", person_v1);
    require_ok(registry.set_compatibility_mode("anything", danube::compatibility_mode::none));
    CHECK(register_json(registry, "anything", person_no_age).version == 2);
    CHECK(require_ok(registry.register_schema("anything").type(danube::schema_type::string).execute()).version == 3);

    // CheckCompatibility answers without registering.
    const auto check =
        require_ok(registry.check_compatibility("full", std::string(person_no_age), danube::schema_type::json_schema));
    CHECK_FALSE(check.compatible);
    CHECK_FALSE(check.errors.empty());
    CHECK(require_ok(registry.versions("full")).size() == 2);
    const auto fine = require_ok(
        registry.check_compatibility("full", std::string(person_v1_email), danube::schema_type::json_schema));
    CHECK(fine.compatible);
  }

  TEST_CASE("scenario 34: pinned and minimum versions are resolved at create()") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    const auto reg = register_json(registry, "versions", person_v1);
    register_json(registry, "versions", person_v1_email);
    const auto topic = danube_test::unique_topic("versions");
    auto consumer_topic_producer =
        require_ok(client.new_producer().topic(topic).name("first").schema("versions").build());
    require_ok(consumer_topic_producer.create());
    auto consumer = subscribe(client, topic, "c");

    // Pinned v1 while v2 is the latest: the messages carry version 1.
    auto pinned =
        require_ok(client.new_producer().topic(topic).name("pinned").schema("versions").schema_version(1).build());
    require_ok(pinned.create());
    CHECK(*pinned.schema() == danube::resolved_schema{reg.schema_id, 1});
    require_ok(pinned.send(R"({"name":"a","age":1})"));
    const auto m = require_ok(consumer.receive(10s));
    CHECK(m.schema_version() == 1U);
    CHECK(m.schema_id() == reg.schema_id);

    // Pinned 99: create() fails.
    auto missing =
        require_ok(client.new_producer().topic(topic).name("missing").schema("versions").schema_version(99).build());
    const auto e = error_of(missing.create());
    CHECK(e.code() == danube::errc::schema);
    CHECK(contains(e.message(), "Pinned version 99 does not exist"));

    // Minimum 2: the latest, which is at least 2; minimum 3 fails.
    auto at_least_2 =
        require_ok(client.new_producer().topic(topic).name("min2").schema("versions").schema_min_version(2).build());
    require_ok(at_least_2.create());
    CHECK(at_least_2.schema()->version >= 2);
    require_ok(at_least_2.send(R"({"name":"b","age":2})"));
    CHECK(require_ok(consumer.receive(10s)).schema_version() == 2U);
    auto at_least_3 =
        require_ok(client.new_producer().topic(topic).name("min3").schema("versions").schema_min_version(3).build());
    CHECK(error_of(at_least_3.create()).code() == danube::errc::schema);

    // The latest (no version given).
    CHECK(consumer_topic_producer.schema()->version == 2);

    // A pinned version that was deleted cannot be resolved either.
    require_ok(registry.delete_version("versions", 1));
    auto deleted =
        require_ok(client.new_producer().topic(topic).name("deleted").schema("versions").schema_version(1).build());
    CHECK(error_of(deleted.create()).code() == danube::errc::not_found);

    // The builder checks the combination before any I/O.
    CHECK(error_of(client.new_producer().topic(topic).name("x").schema_version(1).build()).code() ==
          danube::errc::invalid_argument);
    CHECK(error_of(
              client.new_producer().topic(topic).name("x").schema("s").schema_version(1).schema_min_version(1).build())
              .code() == danube::errc::invalid_argument);
    CHECK(error_of(client.new_producer().topic(topic).name("x").schema("s").schema_version(0).build()).code() ==
          danube::errc::invalid_argument);
  }

  TEST_CASE("validation policy enforce refuses a message without schema_id, warn accepts it") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    const auto reg = register_json(registry, "policed", person_v1);
    const auto topic = danube_test::unique_topic("policed");
    auto plain = require_ok(client.new_producer().topic(topic).name("plain").build());
    require_ok(plain.create());
    auto consumer = subscribe(client, topic, "c");

    // Warn (as configured, and the default): accepted.
    require_ok(registry.configure_topic_schema(topic, "policed", danube::validation_policy::warn));
    require_ok(plain.send("warned"));
    CHECK(require_ok(consumer.receive(10s)).payload_string() == "warned");

    // Enforce: refused with the broker's reason, not retried.
    require_ok(registry.update_topic_validation_policy(topic, danube::validation_policy::enforce));
    const auto e = error_of(plain.send("refused"));
    CHECK(e.code() == danube::errc::permission_denied);
    CHECK_FALSE(e.retryable());
    CHECK(e.message() == fmt::format("Unable to publish the message: Message missing schema_id for topic {} "
                                     "(expected subject: policed)",
                                     topic));

    // A producer of the topic's subject gets through.
    auto typed = require_ok(client.new_producer().topic(topic).name("typed").schema("policed").build());
    require_ok(typed.create());
    require_ok(typed.send(R"({"name":"Ada","age":36})"));
    const auto m = require_ok(consumer.receive(10s));
    CHECK(m.schema_id() == reg.schema_id);

    // None: no checks at all.
    require_ok(registry.update_topic_validation_policy(topic, danube::validation_policy::none));
    require_ok(plain.send("unchecked"));
    CHECK(require_ok(consumer.receive(10s)).payload_string() == "unchecked");
  }

  TEST_CASE("enforce: another subject's schema_id is refused, a topic without subject refuses everything") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    const auto a = register_json(registry, "subject-a", person_v1);
    const auto b = register_json(registry, "subject-b", person_v1);
    const auto topic = danube_test::unique_topic("mismatch");

    // The topic is bound to B by its producer, then the admin binds it to A and enforces.
    auto producer_b = require_ok(client.new_producer().topic(topic).name("b").schema("subject-b").build());
    require_ok(producer_b.create());
    require_ok(registry.configure_topic_schema(topic, "subject-a", danube::validation_policy::enforce));
    auto e = error_of(producer_b.send(R"({"name":"x","age":1})"));
    CHECK(e.code() == danube::errc::permission_denied);
    CHECK(e.message() == fmt::format("Unable to publish the message: Schema subject mismatch for topic {}: message "
                                     "schema_id={} belongs to subject 'subject-b', but topic requires 'subject-a'",
                                     topic, b.schema_id));
    // Warn lets it through.
    require_ok(registry.update_topic_validation_policy(topic, danube::validation_policy::warn));
    require_ok(producer_b.send(R"({"name":"x","age":1})"));
    static_cast<void>(a);

    // UpdateTopicValidationPolicy on a topic without subject fails, but the policy sticks (upstream).
    const auto bare = danube_test::unique_topic("bare");
    auto plain = require_ok(client.new_producer().topic(bare).name("plain").build());
    require_ok(plain.create());
    e = error_of(registry.update_topic_validation_policy(bare, danube::validation_policy::enforce));
    CHECK(e.code() == danube::errc::failed_precondition);
    CHECK(e.message() ==
          fmt::format("Topic '{}' has no schema subject configured. Use ConfigureTopicSchema first.", bare));
    CHECK(require_ok(registry.topic_schema_config(bare)).policy == danube::validation_policy::enforce);
    e = error_of(plain.send("x"));
    CHECK(e.code() == danube::errc::permission_denied);
    CHECK(e.message() ==
          fmt::format("Unable to publish the message: Topic {} requires schema but none is configured", bare));
  }

  TEST_CASE("payload validation checks JSON payloads against the message's schema version") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    register_json(registry, "checked", person_v1);
    const auto topic = danube_test::unique_topic("checked");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").schema("checked").build());
    require_ok(producer.create());
    require_ok(registry.configure_topic_schema(topic, "checked", danube::validation_policy::enforce, true));

    require_ok(producer.send(R"({"name":"Ada","age":36})"));
    auto e = error_of(producer.send(R"({"name":"Ada"})"));
    CHECK(e.code() == danube::errc::permission_denied);
    CHECK(e.message() ==
          "Unable to publish the message: Payload validation failed: JSON Schema validation failed: "
          "\"age\" is a required property");
    e = error_of(producer.send(R"({"name":7,"age":36})"));
    CHECK(contains(e.message(), "7 is not of type \"string\""));
    e = error_of(producer.send("not json"));
    CHECK(contains(e.message(), "Payload validation failed: Invalid JSON data"));
  }

  TEST_CASE("typed producer and consumer: JSON text, strings, and a decoding failure") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    const auto reg = register_json(registry, "typed", person_v1);
    const auto topic = danube_test::unique_topic("typed");

    danube::typed_producer<danube::json_serializer> people(
        require_ok(client.new_producer().topic(topic).name("p").schema("typed").build()));
    require_ok(people.create());
    danube::typed_consumer<danube::json_serializer> readers(
        require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build()));
    require_ok(readers.subscribe());

    require_ok(people.send(danube::json_text(R"({"name":"Ada","age":36})")));
    require_ok(people.send_async(danube::json_text(R"({"name":"Bob","age":40})")).get());
    auto m = require_ok(readers.receive(10s));
    CHECK(m.value().text() == R"({"name":"Ada","age":36})");
    CHECK(m.message().schema_id() == reg.schema_id);
    require_ok(readers.ack(m));
    CHECK(require_ok(readers.receive(10s)).value().text() == R"({"name":"Bob","age":40})");

    // Encoding refuses text that is not JSON; nothing is sent.
    const auto refused = error_of(people.send(danube::json_text("{oops")));
    CHECK(refused.code() == danube::errc::schema);
    CHECK(error_of(people.send_async(danube::json_text("{oops")).get()).code() == danube::errc::schema);

    // A payload that is not JSON: receive() reports errc::schema, then goes on.
    require_ok(people.untyped().send("not json at all"));
    require_ok(people.send(danube::json_text("[1,2]")));
    const auto bad = error_of(readers.receive(10s));
    CHECK(bad.code() == danube::errc::schema);
    CHECK(contains(bad.message(), "cannot decode the message"));
    CHECK(require_ok(readers.receive(10s)).value().text() == "[1,2]");

    // Strings.
    const auto text_topic = danube_test::unique_topic("typed-text");
    danube::typed_producer<danube::string_serializer> writer(
        require_ok(client.new_producer().topic(text_topic).name("w").build()));
    require_ok(writer.create());
    danube::typed_consumer<danube::string_serializer> reader(
        require_ok(client.new_consumer().topic(text_topic).consumer_name("r").subscription("s").build()));
    require_ok(reader.subscribe());
    require_ok(writer.send_with_key("k", std::string("héllo")));
    const auto text = require_ok(reader.receive(10s));
    CHECK(text.value() == "héllo");
    CHECK(text.message().routing_key() == "k");
  }

  TEST_CASE("the registry is shared by a cluster's brokers and survives a restart") {
    auto cluster = require_ok(danube::testing::embedded_cluster::start(2));
    auto c0 = require_ok(danube::client::builder().service_url(cluster.url(0)).build());
    auto c1 = require_ok(danube::client::builder().service_url(cluster.url(1)).build());
    const auto reg = register_json(c0.schema_registry(), "clustered", person_v1);
    CHECK(require_ok(c1.schema_registry().latest("clustered")).schema_id == reg.schema_id);
    CHECK(register_json(c1.schema_registry(), "second", person_v1).schema_id != reg.schema_id);

    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto kept = register_json(client.schema_registry(), "kept", person_v1);
    const auto topic = danube_test::unique_topic("restarted");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").schema("kept").build());
    require_ok(producer.create());
    require_ok(broker.restart());
    // Registry calls fail fast: the first one may meet the client's connection still backing off
    // from the restart (unavailable, retryable), as a gRPC call does. Retryable failures only.
    danube::result<danube::schema_info> after = danube::unexpected_error(danube::errc::unavailable, "not called");
    CHECK(danube_test::wait_until([&] {
      after = client.schema_registry().latest("kept");
      return after.has_value() || !after.error().retryable();
    }));
    CHECK(require_ok(std::move(after)).schema_id == kept.schema_id);
    // The producer recovers (re-created with its schema reference) and keeps stamping.
    auto consumer = subscribe(client, topic, "c");
    require_ok(producer.send(R"({"name":"after","age":1})"));
    const auto m = require_ok(consumer.receive(10s));
    CHECK(m.schema_id() == kept.schema_id);
  }

  TEST_CASE("ListSubjects promises no order: stable on one broker, different between brokers") {
    // Upstream lists a HashSet (docs/protocol.md §8.3); the embedded broker orders by a hash seeded
    // per registry, so a client or test relying on an order fails here rather than upstream.
    std::vector<std::vector<std::string>> orders;
    for (int b = 0; b < 3; ++b) {
      auto broker = danube_test::start_broker();
      auto client = danube_test::connect(broker);
      const auto registry = client.schema_registry();
      for (int i = 0; i < 8; ++i) {
        require_ok(registry.register_schema(fmt::format("subject-{}", i)).type(danube::schema_type::bytes).execute());
      }
      const auto order = subject_order(registry);
      CHECK(order.size() == 8);
      CHECK(subject_order(registry) == order);
      orders.push_back(order);
    }
    // 8 names in the same order on three brokers by chance: (1/8!)^2.
    CHECK_FALSE((orders[0] == orders[1] && orders[1] == orders[2]));
  }

  TEST_CASE("SetCompatibilityMode echoes the mode as the request spelled it") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    register_json(client.schema_registry(), "spelled", person_v1);
    const auto stub = registry_stub(broker);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    danube_schema::SetCompatibilityModeRequest request;
    request.set_subject("spelled");
    request.set_compatibility_mode("FoRwArD");
    danube_schema::SetCompatibilityModeResponse response;
    const auto status = stub->SetCompatibilityMode(&context, request, &response);
    REQUIRE(status.ok());
    CHECK(response.message() == "Set compatibility mode to FoRwArD for subject spelled");
    CHECK(require_ok(client.schema_registry().latest("spelled")).compatibility == danube::compatibility_mode::forward);
  }

  TEST_CASE("a topic validates payloads against the first version it saw of a schema id, even after evolution") {
    // topic_schema.rs caches (subject, version) per schema id on the topic: later messages of that
    // id are validated against the cached version whatever their schema_version (§8.7).
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    constexpr std::string_view v1 = R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"]})";
    constexpr std::string_view v2 =
        R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name"]})";
    register_json(registry, "evolving", v1);
    register_json(registry, "evolving", v2);
    // Valid for v1 (age unconstrained), invalid for v2 (age must be an integer).
    constexpr std::string_view text_age = R"({"name":"Ada","age":"old"})";

    const auto seen_v1 = danube_test::unique_topic("seen-v1");
    auto old_writer =
        require_ok(client.new_producer().topic(seen_v1).name("old").schema("evolving").schema_version(1).build());
    require_ok(old_writer.create());
    require_ok(registry.configure_topic_schema(seen_v1, "evolving", danube::validation_policy::enforce, true));
    require_ok(old_writer.send(R"({"name":"Ada"})"));
    auto new_writer = require_ok(client.new_producer().topic(seen_v1).name("new").schema("evolving").build());
    require_ok(new_writer.create());
    REQUIRE(new_writer.schema()->version == 2);
    // Stamped version 2, validated against the cached version 1: accepted.
    require_ok(new_writer.send(std::string(text_age)));

    // A topic whose first message was version 2 validates against version 2.
    const auto seen_v2 = danube_test::unique_topic("seen-v2");
    auto fresh = require_ok(client.new_producer().topic(seen_v2).name("new").schema("evolving").build());
    require_ok(fresh.create());
    require_ok(registry.configure_topic_schema(seen_v2, "evolving", danube::validation_policy::enforce, true));
    require_ok(fresh.send(R"({"name":"Ada","age":36})"));
    const auto refused = error_of(fresh.send(std::string(text_age)));
    CHECK(refused.code() == danube::errc::permission_denied);
    CHECK(contains(refused.message(), "Payload validation failed"));
  }

  TEST_CASE("SendMessage applies the topic's schema policy before it checks the producer is attached") {
    // topic.rs publish_message_async: validate_message, then the producer check (§2.3).
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto registry = client.schema_registry();
    register_json(registry, "guarded", person_v1);
    const auto guarded = danube_test::unique_topic("guarded");
    const auto other = danube_test::unique_topic("other");
    auto owner = require_ok(client.new_producer().topic(guarded).name("owner").schema("guarded").build());
    require_ok(owner.create());
    require_ok(registry.configure_topic_schema(guarded, "guarded", danube::validation_policy::enforce));
    auto producers = danube::detail::wire::ProducerService::NewStub(
        grpc::CreateChannel(fmt::format("127.0.0.1:{}", broker.port()), grpc::InsecureChannelCredentials()));
    // A producer of another topic sends to the guarded one.
    std::uint64_t stranger = 0;
    {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      danube::detail::wire::ProducerRequest request;
      request.set_topic_name(other);
      request.set_producer_name("stranger");
      danube::detail::wire::ProducerResponse response;
      REQUIRE(producers->CreateProducer(&context, request, &response).ok());
      stranger = response.producer_id();
    }
    const auto send = [&](bool with_schema) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      danube::detail::wire::StreamMessage message;
      message.mutable_msg_id()->set_producer_id(stranger);
      message.mutable_msg_id()->set_topic_name(guarded);
      message.set_payload(R"({"name":"x","age":1})");
      if (with_schema) {
        message.set_schema_id(require_ok(registry.latest("guarded")).schema_id);
      }
      danube::detail::wire::MessageResponse response;
      return producers->SendMessage(&context, message, &response);
    };
    const auto unstamped = send(false);
    CHECK(unstamped.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(unstamped.error_message() == fmt::format("Unable to publish the message: Message missing schema_id for "
                                                   "topic {} (expected subject: guarded)",
                                                   guarded));
    const auto stamped = send(true);
    CHECK(stamped.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(contains(stamped.error_message(), "is not attached to topic name"));
  }

  TEST_CASE("a request over 4 MiB is refused once with OUT_OF_RANGE, which the client does not retry") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto huge = std::string(5U * 1024U * 1024U, 'x');
    const auto refused = error_of(
        client.schema_registry().register_schema("huge").type(danube::schema_type::string).definition(huge).execute());
    CHECK(refused.code() == danube::errc::invalid_argument);
    CHECK_FALSE(refused.retryable());
    CHECK(contains(refused.message(), "decoded message length too large"));
    CHECK(broker.calls(danube::testing::rpc::register_schema) == 1);
  }
}
