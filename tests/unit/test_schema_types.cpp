// Schema registry pieces without a network: the public enums and their wire names, the GetSchema
// envelope unwrapping, and the embedded broker's JSON model, compatibility rules, Avro handling
// and publish-time validation.
#include <danube/detail/schema_wire.hpp>
#include <danube/schema_types.hpp>
#include <danube/testing/detail/avro_schema.hpp>
#include <danube/testing/detail/json.hpp>
#include <danube/testing/detail/json_schema_compat.hpp>
#include <danube/testing/detail/schema_definition.hpp>
#include <danube/testing/detail/schema_registry_state.hpp>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

namespace schema_types_test {

namespace tdetail = danube::testing::detail;

inline std::string unwrapped(std::string body) {
  const auto span = danube::detail::unwrap_definition(body);
  return body.substr(span.offset, span.size);
}

inline tdetail::json::value parse_json(std::string_view text) {
  auto parsed = tdetail::json::parse(text);
  REQUIRE(std::holds_alternative<tdetail::json::value>(parsed));
  return std::get<tdetail::json::value>(parsed);
}

inline std::vector<std::string> compat(std::string_view old_text, std::string_view new_text,
                                       danube::compatibility_mode mode, std::string_view type = "json_schema") {
  auto before = tdetail::schema_definition::parse(type, old_text);
  auto after = tdetail::schema_definition::parse(type, new_text);
  REQUIRE(before.has_value());
  REQUIRE(after.has_value());
  return tdetail::schema_definition::incompatibilities(**before, **after, mode);
}

inline void register_schema(tdetail::schema_registry_state& state, const std::string& subject, std::string_view type,
                            std::string_view definition, danube_schema::RegisterSchemaResponse& out) {
  danube_schema::RegisterSchemaRequest request;
  request.set_subject(subject);
  request.set_schema_type(std::string(type));
  request.set_schema_definition(std::string(definition));
  REQUIRE(state.register_schema(request, out).has_value());
}

}  // namespace schema_types_test

TEST_SUITE("schema types") {
  using namespace schema_types_test;

  TEST_CASE("schema types, modes and policies: wire names and the broker's aliases") {
    using danube::schema_type;
    for (const auto type : {schema_type::bytes, schema_type::string, schema_type::number, schema_type::avro,
                            schema_type::json_schema, schema_type::protobuf}) {
      CHECK(danube::schema_type_from_string(danube::to_string(type)) == type);
    }
    CHECK(danube::to_string(schema_type::json_schema) == "json_schema");
    CHECK(danube::schema_type_from_string("JSON") == schema_type::json_schema);
    CHECK(danube::schema_type_from_string("Int64") == schema_type::number);
    CHECK(danube::schema_type_from_string("double") == schema_type::number);
    CHECK(danube::schema_type_from_string("proto") == schema_type::protobuf);
    CHECK_FALSE(danube::schema_type_from_string("xml").has_value());
    CHECK(danube::compatibility_mode_from_string("FULL") == danube::compatibility_mode::full);
    CHECK_FALSE(danube::compatibility_mode_from_string("transitive").has_value());
    CHECK(danube::to_string(danube::compatibility_mode::backward) == "backward");
    CHECK(danube::validation_policy_from_string("Enforce") == danube::validation_policy::enforce);
    CHECK(danube::to_string(danube::validation_policy::warn) == "warn");
    CHECK_FALSE(danube::validation_policy_from_string("strict").has_value());
  }

  TEST_CASE("the GetSchema envelope is unwrapped in place") {
    CHECK(unwrapped(R"({"JsonSchema":{"raw_schema":"{\"type\":\"string\"}","fingerprint":"sha256:ab"}})") ==
          R"({"type":"string"})");
    CHECK(unwrapped(R"({"Avro":{"fingerprint":"x","raw_schema":"\"long\""}})") == R"("long")");
    CHECK(unwrapped(
              R"({"Protobuf":{"raw_proto":"syntax = \"proto3\";\nmessage M {}","message_name":"DefaultMessage"}})") ==
          "syntax = \"proto3\";\nmessage M {}");
    CHECK(unwrapped(R"("Bytes")").empty());
    CHECK(unwrapped(R"("Number")").empty());
    // Not an envelope: the body is the definition.
    CHECK(unwrapped("syntax = \"proto3\";") == "syntax = \"proto3\";");
    CHECK(unwrapped(R"({"type":"string"})") == R"({"type":"string"})");
    CHECK(unwrapped(R"({"JsonSchema":{"raw_schema":"unterminated})") ==
          R"({"JsonSchema":{"raw_schema":"unterminated})");
    CHECK(unwrapped("").empty());

    // Through schema_info: one buffer, views of it.
    danube_schema::GetSchemaResponse wire;
    wire.set_schema_type("json_schema");
    wire.set_schema_definition(R"({"JsonSchema":{"raw_schema":"{\"a\":\"\\u00e9\"}","fingerprint":"f"}})");
    wire.set_compatibility_mode("forward");
    wire.set_created_at(1700000000);
    auto info = danube::detail::schema_info_access::from_wire(wire);
    REQUIRE(info.has_value());
    CHECK(info->definition() == R"({"a":"\u00e9"})");  // the schema's own text, escapes and all
    CHECK(info->compatibility == danube::compatibility_mode::forward);
    CHECK(info->created_at == std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)));
    wire.set_schema_type("xml");
    CHECK(danube::detail::schema_info_access::from_wire(wire).error().code() == danube::errc::schema);
  }

  TEST_CASE("the broker's JSON model: strict parsing, sorted compact output, depth limit") {
    namespace json = tdetail::json;
    const auto doc = parse_json(R"( {"b": [1, 2.50, "x\u0041"], "a": {"z": null, "y": true}, "b2": -0} )");
    CHECK(json::to_string(doc) == R"({"a":{"y":true,"z":null},"b":[1,2.50,"xA"],"b2":-0})");
    CHECK(json::to_string(parse_json(R"({"k":1,"k":2})")) == R"({"k":2})");
    CHECK(std::holds_alternative<json::parse_error>(json::parse("{\"a\":}")));
    CHECK(std::holds_alternative<json::parse_error>(json::parse("[1] x")));
    CHECK(std::holds_alternative<json::parse_error>(json::parse(std::string(100000, '['))));
    const auto error = std::get<json::parse_error>(json::parse("[1,"));
    CHECK_FALSE(error.message.empty());
  }

  TEST_CASE("registration checks and fingerprints per type") {
    using tdetail::schema_definition;
    CHECK(schema_definition::parse("xml", "").error() == "Unknown schema type: xml");
    CHECK(schema_definition::parse("json", "{").error().starts_with("Invalid JSON in schema: "));
    CHECK(schema_definition::parse("json", R"({"type":"strin"})").error().starts_with("Invalid JSON Schema: "));
    CHECK(schema_definition::parse("json", R"({"required":"a"})").error().starts_with("Invalid JSON Schema: "));
    CHECK(schema_definition::parse("json", "true").has_value());
    CHECK(schema_definition::parse("avro", R"({"type":"record","name":"R"})")
              .error()
              .starts_with("Invalid Avro schema: "));
    CHECK(schema_definition::parse("avro", R"("Missing")").error() == "Invalid Avro schema: Unknown type: Missing");
    CHECK(schema_definition::parse("protobuf", std::string("\xff")).error().starts_with("Invalid UTF-8"));
    CHECK((*schema_definition::parse("NUMBER", "ignored"))->fingerprint() == "number");
    // JSON: whitespace and key order do not change the fingerprint; content does.
    const auto a = *schema_definition::parse("json_schema", R"({"type":"object","title":"T"})");
    const auto b = *schema_definition::parse("json_schema", "{ \"title\" : \"T\",\n \"type\" : \"object\" }");
    const auto c = *schema_definition::parse("json_schema", R"({"type":"object","title":"U"})");
    CHECK(a->fingerprint() == b->fingerprint());
    CHECK(a->fingerprint() != c->fingerprint());
    // sha256 of the canonical text {"title":"T","type":"object"}.
    CHECK(a->fingerprint() == tdetail::sha256_fingerprint(R"({"title":"T","type":"object"})"));
    CHECK(tdetail::sha256_fingerprint("") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // Avro: the canonical form drops docs and whitespace.
    const auto avro1 = *schema_definition::parse(
        "avro", R"({"type":"record","name":"U","namespace":"n","doc":"d","fields":[{"name":"id","type":"long"}]})");
    const auto avro2 = *schema_definition::parse(
        "avro", R"({ "name": "n.U", "type": "record", "fields": [ {"type": {"type":"long"}, "name": "id"} ] })");
    CHECK(avro1->fingerprint() == avro2->fingerprint());
    // The envelope.
    CHECK(a->envelope() == R"({"JsonSchema":{"raw_schema":"{\"type\":\"object\",\"title\":\"T\"}","fingerprint":")" +
                               a->fingerprint() + "\"}}");
    CHECK((*schema_definition::parse("string", ""))->envelope() == R"("String")");
  }

  TEST_CASE("JSON Schema compatibility rules and messages") {
    using danube::compatibility_mode;
    const std::string_view v1 =
        R"({"properties":{"name":{"type":"string"},"age":{"type":"integer"},"note":{"type":"string"}},"required":["name","age"]})";
    CHECK(compat(v1, R"({"properties":{"name":{"type":"string"},"note":{"type":"string"}},"required":["name"]})",
                 compatibility_mode::backward) ==
          std::vector<std::string>{"Backward incompatible: removed required field 'age'"});
    CHECK(
        compat(
            v1,
            R"({"properties":{"name":{"type":"string"},"age":{"type":"integer"},"note":{"type":"string"}},"required":["name","age","note"]})",
            compatibility_mode::backward) ==
        std::vector<std::string>{"Backward incompatible: made optional field 'note' required"});
    CHECK(
        compat(
            v1,
            R"({"properties":{"name":{"type":"string"},"age":{"type":"number"},"note":{"type":"string"}},"required":["name","age"]})",
            compatibility_mode::forward) ==
        std::vector<std::string>{"Forward incompatible: changed type of field 'age'"});
    CHECK(
        compat(
            v1,
            R"({"properties":{"name":{"type":"string"},"age":{"type":"integer"},"id":{"type":"string"}},"required":["name","age","id"]})",
            compatibility_mode::forward) ==
        std::vector<std::string>{"Forward incompatible: added new required field 'id'"});
    // full: backward first; forward only when backward passed.
    CHECK(compat(v1, R"({"properties":{"name":{"type":"string"}},"required":["name","x"]})", compatibility_mode::full)
              .front()
              .starts_with("Backward incompatible"));
    CHECK(compat(v1, R"({"properties":{"x":{}},"required":["x"]})", compatibility_mode::none).empty());
    CHECK(compat(v1, v1, compatibility_mode::full).empty());
    auto before = tdetail::schema_definition::parse("json", v1);
    auto other = tdetail::schema_definition::parse("string", "");
    CHECK(tdetail::schema_definition::incompatibilities(**before, **other, compatibility_mode::backward) ==
          std::vector<std::string>{"Schema types must match (cannot change from Avro to JSON, etc.)"});
  }

  TEST_CASE("Avro compatibility: defaults, promotions, enums, unions") {
    using danube::compatibility_mode;
    const std::string_view user = R"({"type":"record","name":"User","fields":[{"name":"id","type":"int"}]})";
    // A new field with a default reads old data (backward); without one it does not.
    CHECK(
        compat(
            user,
            R"({"type":"record","name":"User","fields":[{"name":"id","type":"int"},{"name":"email","type":"string","default":""}]})",
            compatibility_mode::backward, "avro")
            .empty());
    const auto missing = compat(
        user,
        R"({"type":"record","name":"User","fields":[{"name":"id","type":"int"},{"name":"email","type":"string"}]})",
        compatibility_mode::backward, "avro");
    REQUIRE(missing.size() == 1);
    CHECK(missing[0].starts_with("Backward incompatible: "));
    // int → long is a promotion (backward), not the other way (forward).
    const std::string_view as_long = R"({"type":"record","name":"User","fields":[{"name":"id","type":"long"}]})";
    CHECK(compat(user, as_long, compatibility_mode::backward, "avro").empty());
    CHECK(compat(user, as_long, compatibility_mode::forward, "avro").front().starts_with("Forward incompatible: "));
    // Enums: the reader needs every symbol the writer may write.
    const std::string_view e2 = R"({"type":"enum","name":"E","symbols":["A","B"]})";
    const std::string_view e3 = R"({"type":"enum","name":"E","symbols":["A","B","C"]})";
    CHECK(compat(e2, e3, compatibility_mode::backward, "avro").empty());
    CHECK_FALSE(compat(e2, e3, compatibility_mode::forward, "avro").empty());
    // Unions and collections.
    CHECK(compat(R"("string")", R"(["null","string"])", compatibility_mode::backward, "avro").empty());
    CHECK_FALSE(compat(R"(["null","string"])", R"("string")", compatibility_mode::backward, "avro").empty());
    CHECK(compat(R"({"type":"array","items":"int"})", R"({"type":"array","items":"double"})",
                 compatibility_mode::backward, "avro")
              .empty());
    // Recursive types terminate.
    const std::string_view list =
        R"({"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]})";
    CHECK(compat(list, list, compatibility_mode::full, "avro").empty());
  }

  TEST_CASE("payload validation per type") {
    using tdetail::schema_definition;
    const auto json = *schema_definition::parse(
        "json",
        R"({"type":"object","properties":{"n":{"type":"integer","minimum":0},"s":{"type":"string","maxLength":2},"e":{"enum":["a","b"]},"l":{"type":"array","items":{"type":"boolean"}}},"required":["n"],"additionalProperties":false})");
    CHECK_FALSE(json->validate_payload(R"({"n":1,"s":"ab","e":"a","l":[true]})").has_value());
    CHECK(json->validate_payload(R"({"s":"abc"})") ==
          std::string(
              "JSON Schema validation failed: \"n\" is a required property, \"abc\" is longer than 2 characters"));
    CHECK(json->validate_payload(R"({"n":-1})") ==
          std::string("JSON Schema validation failed: -1 is less than the minimum of 0"));
    CHECK(json->validate_payload(R"({"n":1.5})") ==
          std::string("JSON Schema validation failed: 1.5 is not of type \"integer\""));
    CHECK(json->validate_payload(R"({"n":1,"e":"c","l":[1],"x":0})") ==
          std::string("JSON Schema validation failed: \"c\" is not one of [\"a\",\"b\"], 1 is not of type \"boolean\", "
                      "Additional properties are not allowed ('x' was unexpected)"));
    CHECK(json->validate_payload("nope")->starts_with("Invalid JSON data: "));
    const auto number = *schema_definition::parse("number", "");
    CHECK_FALSE(number->validate_payload("1234").has_value());
    CHECK(number->validate_payload("123") == std::string("Invalid number: expected 4 or 8 bytes, got 3"));
    const auto text = *schema_definition::parse("string", "");
    CHECK(text->validate_payload("\xff").has_value());
    const auto avro = *schema_definition::parse("avro", R"("string")");
    CHECK(avro->validate_payload(R"({"json":"not avro"})").has_value());
    CHECK_FALSE(avro->validate_payload(std::string_view("Obj\x01rest", 8)).has_value());
    CHECK_FALSE((*schema_definition::parse("bytes", ""))->validate_payload("\xff").has_value());
  }

  TEST_CASE("registry state: publish-time checks per policy, the unknown-id quirk, binding") {
    tdetail::schema_registry_state state;
    danube_schema::RegisterSchemaResponse a;
    danube_schema::RegisterSchemaResponse b;
    register_schema(state, "a", "string", "", a);
    register_schema(state, "b", "bytes", "", b);
    const std::string topic = "/default/t";
    danube::StreamMessage message;

    // Default: warn, no subject: anything goes.
    CHECK(state.validate_message(topic, message).has_value());
    REQUIRE(state.bind_topic(topic, "a").has_value());
    CHECK(state.bind_topic(topic, "a").has_value());
    CHECK(state.bind_topic(topic, "b").error().error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK(state.bind_topic("/default/u", "zzz").error().error_code() == grpc::StatusCode::FAILED_PRECONDITION);

    // Warn: missing id and another subject's id pass; an unknown id does not (upstream quirk).
    CHECK(state.validate_message(topic, message).has_value());
    message.set_schema_id(b.schema_id());
    CHECK(state.validate_message(topic, message).has_value());
    message.set_schema_id(4242);
    CHECK(state.validate_message(topic, message).error() == "Schema ID 4242 not found in registry");

    // Enforce.
    REQUIRE(state.configure_topic(topic, "a", "ENFORCE", false, true).has_value());
    message.clear_schema_id();
    CHECK(state.validate_message(topic, message).error() ==
          "Message missing schema_id for topic /default/t (expected subject: a)");
    message.set_schema_id(b.schema_id());
    CHECK(state.validate_message(topic, message).error().starts_with("Schema subject mismatch for topic /default/t"));
    message.set_schema_id(a.schema_id());
    CHECK(state.validate_message(topic, message).has_value());

    // Payload validation against the version the topic first accepted for the id (here 1, as the
    // message had none), as the string type; later versions of that id are checked against it.
    REQUIRE(state.configure_topic(topic, "a", "enforce", true, true).has_value());
    message.set_payload("\xff");
    CHECK(state.validate_message(topic, message).error() ==
          "Payload validation failed: Invalid UTF-8 string: invalid utf-8 sequence");
    message.set_payload("ok");
    CHECK(state.validate_message(topic, message).has_value());
    message.set_schema_version(7);
    CHECK(state.validate_message(topic, message).has_value());  // cached: version 1
    // A topic whose first message of the id names a version that does not exist.
    const std::string other = "/default/v";
    REQUIRE(state.bind_topic(other, "a").has_value());
    REQUIRE(state.configure_topic(other, "a", "enforce", true, true).has_value());
    CHECK(state.validate_message(other, message).error() ==
          "Schema version not found: a/7 - Schema version 7 not found for subject: a");

    CHECK(state.configure_topic(topic, "a", "strict", false, true).error().error_message() ==
          "Invalid validation policy: 'strict'. Must be 'none', 'warn', or 'enforce'");
  }
}
