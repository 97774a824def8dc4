#include "../../tools/cli/args.hpp"
//
#include <chrono>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

namespace cli_args_test {

using danube_cli::command;
using danube_cli::usage_error;

inline std::expected<command, usage_error> parse(std::initializer_list<std::string_view> args) {
  const std::vector<std::string_view> v(args);
  return danube_cli::parse_command_line(v);
}

inline danube_cli::produce_args produce(std::initializer_list<std::string_view> args) {
  auto r = parse(args);
  REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
  REQUIRE(std::holds_alternative<danube_cli::produce_args>(*r));
  return std::get<danube_cli::produce_args>(*r);
}

inline danube_cli::consume_args consume(std::initializer_list<std::string_view> args) {
  auto r = parse(args);
  REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
  REQUIRE(std::holds_alternative<danube_cli::consume_args>(*r));
  return std::get<danube_cli::consume_args>(*r);
}

template <class Args>
Args parsed_as(std::initializer_list<std::string_view> args) {
  auto r = parse(args);
  REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
  REQUIRE(std::holds_alternative<Args>(*r));
  return std::get<Args>(*r);
}

// The usage error's message, or "" when the command line parsed.
inline std::string error_of(std::initializer_list<std::string_view> args) {
  auto r = parse(args);
  return r ? std::string() : r.error().message;
}

inline bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace cli_args_test

TEST_SUITE("cli args") {
  using namespace cli_args_test;

  TEST_CASE("produce: defaults") {
    const auto p = produce({"produce", "-m", "hi"});
    CHECK(p.connection.service_addr == "http://127.0.0.1:6650");
    CHECK(p.topic == "/default/test_topic");
    CHECK(p.producer_name == "danube-cpp-cli-producer");
    CHECK(p.message == "hi");
    CHECK_FALSE(p.file);
    CHECK(p.attributes.empty());
    CHECK_FALSE(p.partitions);
    CHECK(p.count == 1);
    CHECK(p.interval == std::chrono::milliseconds(500));
    CHECK_FALSE(p.reliable);
    CHECK_FALSE(p.key);
    CHECK_FALSE(p.connection.token);
    CHECK_FALSE(p.stats);
    CHECK(produce({"produce", "-m", "hi", "--stats"}).stats);
  }

  TEST_CASE("produce: every flag, short and long forms") {
    const auto s =
        produce({"produce", "-s",        "https://b:1", "-t",          "/default/o", "-n",          "w",
                 "-m",      "x",         "-a",          "k1:v1,k2:v2", "-p",         "3",           "-c",
                 "10",      "-i",        "0",           "--reliable",  "-k",         "customer-42", "--token",
                 "jwt",     "--ca-file", "ca.pem",      "--cert",      "c.pem",      "--key-file",  "k.pem"});
    CHECK(s.connection.service_addr == "https://b:1");
    CHECK(s.topic == "/default/o");
    CHECK(s.producer_name == "w");
    CHECK(s.attributes == danube::attributes{{"k1", "v1"}, {"k2", "v2"}});
    CHECK(s.partitions == 3U);
    CHECK(s.count == 10);
    CHECK(s.interval == std::chrono::milliseconds(0));
    CHECK(s.reliable);
    CHECK(s.key == "customer-42");
    CHECK(s.connection.token == "jwt");
    CHECK(s.connection.ca_file == "ca.pem");
    CHECK(s.connection.cert == "c.pem");
    CHECK(s.connection.key_file == "k.pem");

    const auto l =
        produce({"produce", "--service-addr=http://h:2", "--topic", "/a/b", "--producer-name", "n", "--file",
                 "payload.bin", "--attributes", "a:1", "--partitions=2", "--count=4", "--interval", "25", "--key=k"});
    CHECK(l.connection.service_addr == "http://h:2");
    CHECK(l.topic == "/a/b");
    CHECK(l.producer_name == "n");
    CHECK(l.file == "payload.bin");
    CHECK_FALSE(l.message);
    CHECK(l.partitions == 2U);
    CHECK(l.count == 4);
    CHECK(l.interval == std::chrono::milliseconds(25));
    CHECK(l.key == "k");

    // Short options take their value attached, too; values may start with '-'.
    const auto a = produce({"produce", "-c5", "-m", "-dash"});
    CHECK(a.count == 5);
    CHECK(a.message == "-dash");
  }

  TEST_CASE("produce: attributes") {
    CHECK(produce({"produce", "-m", "x", "-a", " a : 1 , b:x:y"}).attributes ==
          danube::attributes{{"a", "1"}, {"b", "x:y"}});
    CHECK(produce({"produce", "-m", "x", "-a", "a:1", "-a", "b:2,a:3"}).attributes ==
          danube::attributes{{"a", "3"}, {"b", "2"}});
    CHECK(produce({"produce", "-m", "x", "-a", "empty:"}).attributes == danube::attributes{{"empty", ""}});
    CHECK(contains(error_of({"produce", "-m", "x", "-a", "novalue"}), "'novalue' is not key:value"));
    CHECK(contains(error_of({"produce", "-m", "x", "-a", ":v"}), "empty key"));
    CHECK(contains(error_of({"produce", "-m", "x", "-a", "a:1,"}), "is not key:value"));
    CHECK(contains(error_of({"produce", "-m", "x", "-a", ""}), "empty value"));
  }

  TEST_CASE("produce: payload and number rules") {
    CHECK(contains(error_of({"produce"}), "needs a payload"));
    CHECK(contains(error_of({"produce", "-m", "x", "-f", "y"}), "not both"));
    CHECK(contains(error_of({"produce", "-m", "x", "-c", "0"}), "--count needs a count >= 1"));
    CHECK(contains(error_of({"produce", "-m", "x", "-c", "-1"}), "--count"));
    CHECK(contains(error_of({"produce", "-m", "x", "-c", "3x"}), "not '3x'"));
    CHECK(contains(error_of({"produce", "-m", "x", "-p", "0"}), "--partitions"));
    CHECK(contains(error_of({"produce", "-m", "x", "-p", "4294967296"}), "--partitions"));
    CHECK(contains(error_of({"produce", "-m", "x", "-i", "soon"}), "--interval"));
    CHECK(contains(error_of({"produce", "-m", "x", "--token", ""}), "non-empty"));
  }

  TEST_CASE("consume: defaults and every flag") {
    const auto d = consume({"consume"});
    CHECK(d.topic == "/default/test_topic");
    CHECK(d.consumer_name == "danube-cpp-cli-consumer");
    CHECK(d.subscription == "danube-cpp-cli-subscription");
    CHECK(d.sub_type == danube::subscription_type::shared);
    CHECK(d.key_filters.empty());
    CHECK_FALSE(d.count);
    CHECK_FALSE(d.timeout);
    CHECK_FALSE(d.json);

    const auto c =
        consume({"consume", "-s", "http://h:1", "-t", "/default/o", "-n", "c1", "-m", "audit", "--sub-type",
                 "key_shared", "--key-filter", "eu-*", "--key-filter=us-?", "-c", "5", "--timeout", "20", "--json"});
    CHECK(c.connection.service_addr == "http://h:1");
    CHECK(c.topic == "/default/o");
    CHECK(c.consumer_name == "c1");
    CHECK(c.subscription == "audit");
    CHECK(c.sub_type == danube::subscription_type::key_shared);
    CHECK(c.key_filters == std::vector<std::string>{"eu-*", "us-?"});
    CHECK(c.count == 5U);
    CHECK(c.timeout == std::chrono::milliseconds(20'000));
    CHECK(c.json);

    CHECK_FALSE(c.stats);
    CHECK(consume({"consume", "--stats"}).stats);
    CHECK(consume({"consume", "--consumer-name", "x", "--subscription", "y"}).subscription == "y");
    CHECK(consume({"consume", "--timeout", "0.25"}).timeout == std::chrono::milliseconds(250));
  }

  TEST_CASE("consume: subscription types and their rules") {
    using danube::subscription_type;
    CHECK(consume({"consume", "--sub-type", "exclusive"}).sub_type == subscription_type::exclusive);
    CHECK(consume({"consume", "--sub-type", "shared"}).sub_type == subscription_type::shared);
    CHECK(consume({"consume", "--sub-type", "failover"}).sub_type == subscription_type::failover);
    CHECK(consume({"consume", "--sub-type", "fail-over"}).sub_type == subscription_type::failover);
    CHECK(consume({"consume", "--sub-type", "key-shared"}).sub_type == subscription_type::key_shared);
    CHECK(contains(error_of({"consume", "--sub-type", "Shared"}), "exclusive, shared, failover or key_shared"));
    CHECK(contains(error_of({"consume", "--key-filter", "eu-*"}), "only applies to --sub-type key_shared"));
    CHECK(contains(error_of({"consume", "--sub-type", "key_shared", "--key-filter", ""}), "non-empty"));
    CHECK(contains(error_of({"consume", "-c", "0"}), "--count"));
    for (const char* bad : {"0", "-1", "abc", "nan", "inf", "1e99", ""}) {
      CAPTURE(bad);
      CHECK(contains(error_of({"consume", "--timeout", bad}), "--timeout needs a positive number of seconds"));
    }
  }

  TEST_CASE("flags of the other subcommand, unknown flags, missing values, repeats") {
    CHECK(contains(error_of({"consume", "-k", "x"}), "unknown argument '-k'"));
    CHECK(contains(error_of({"consume", "--reliable"}), "unknown argument '--reliable'"));
    CHECK(contains(error_of({"produce", "-m", "x", "--json"}), "unknown argument '--json'"));
    CHECK(contains(error_of({"produce", "-m", "x", "--bogus"}), "unknown argument '--bogus'"));
    CHECK(contains(error_of({"produce", "-m", "x", "extra"}), "unknown argument 'extra'"));
    CHECK(contains(error_of({"produce", "-m"}), "--message needs a value (TEXT)"));
    CHECK(contains(error_of({"produce", "-m", "x", "-t", "/a/b", "--topic", "/a/c"}),
                   "--topic was given more than once"));
    CHECK(contains(error_of({"produce", "-m", "x", "--reliable=yes"}), "--reliable takes no value"));
    CHECK(contains(error_of({"consume", "--json", "--json"}), "more than once"));
    CHECK(contains(error_of({"consume", "--stats", "--stats"}), "more than once"));
    CHECK(contains(error_of({"schema", "get", "--id", "1", "--stats"}), "unknown argument '--stats'"));
    CHECK(contains(error_of({}), "missing subcommand"));
    CHECK(contains(error_of({"publish"}), "unknown subcommand 'publish'"));

    const auto e = parse({"consume", "--bogus"});
    REQUIRE_FALSE(e);
    CHECK(e.error().topic == danube_cli::subcommand::consume);  // whose usage to print
  }

  TEST_CASE("help") {
    for (const auto& args : {std::vector<std::string_view>{"--help"}, {"-h"}, {"help"}}) {
      const auto r = danube_cli::parse_command_line(args);
      REQUIRE(r);
      REQUIRE(std::holds_alternative<danube_cli::help_request>(*r));
      CHECK(std::get<danube_cli::help_request>(*r).topic == danube_cli::subcommand::none);
    }
    const auto p = parse({"produce", "--bogus-later-ignored-no", "-h"});
    CHECK_FALSE(p);  // an unknown flag before --help is still an error
    const auto h = parse({"produce", "-t", "/a/b", "--help"});
    REQUIRE(h);
    CHECK(std::get<danube_cli::help_request>(*h).topic == danube_cli::subcommand::produce);
    const auto c = parse({"consume", "-h"});
    REQUIRE(c);
    CHECK(std::get<danube_cli::help_request>(*c).topic == danube_cli::subcommand::consume);
  }

  TEST_CASE("the usage lists every flag of each subcommand") {
    const auto produce_usage = danube_cli::usage(danube_cli::subcommand::produce);
    for (const auto& f : danube_cli::produce_flags) {
      CHECK(contains(produce_usage, "--" + std::string(f.long_name)));
    }
    const auto consume_usage = danube_cli::usage(danube_cli::subcommand::consume);
    for (const auto& f : danube_cli::consume_flags) {
      CHECK(contains(consume_usage, "--" + std::string(f.long_name)));
    }
    for (const auto& f : danube_cli::connection_flags) {
      CHECK(contains(produce_usage, "--" + std::string(f.long_name)));
      CHECK(contains(consume_usage, "--" + std::string(f.long_name)));
    }
    CHECK(contains(danube_cli::usage(danube_cli::subcommand::none), "produce"));
    CHECK(contains(danube_cli::usage(danube_cli::subcommand::none), "schema"));
    const auto schema_usage = danube_cli::usage(danube_cli::subcommand::schema);
    for (const auto* action : {"register", "get", "versions", "check"}) {
      CHECK(contains(schema_usage, action));
    }
    const std::pair<danube_cli::subcommand, std::span<const danube_cli::flag_spec>> schema_tables[] = {
        {danube_cli::subcommand::schema_register, danube_cli::schema_register_flags},
        {danube_cli::subcommand::schema_get, danube_cli::schema_get_flags},
        {danube_cli::subcommand::schema_versions, danube_cli::schema_versions_flags},
        {danube_cli::subcommand::schema_check, danube_cli::schema_check_flags},
    };
    for (const auto& [which, table] : schema_tables) {
      const auto text = danube_cli::usage(which);
      for (const auto& f : table) {
        CHECK(contains(text, "--" + std::string(f.long_name)));
      }
      for (const auto& f : danube_cli::connection_flags) {
        CHECK(contains(text, "--" + std::string(f.long_name)));
      }
    }
  }

  TEST_CASE("produce: schema flags") {
    const auto none = produce({"produce", "-m", "x"});
    CHECK_FALSE(none.schema_subject);
    CHECK_FALSE(none.schema_version);
    CHECK_FALSE(none.schema_min_version);
    const auto latest = produce({"produce", "-m", "x", "--schema-subject", "orders"});
    CHECK(latest.schema_subject == "orders");
    CHECK_FALSE(latest.schema_version);
    const auto pinned = produce({"produce", "-m", "x", "--schema-subject=orders", "--schema-version", "2"});
    CHECK(pinned.schema_version == 2U);
    CHECK_FALSE(pinned.schema_min_version);
    const auto minimum = produce({"produce", "-m", "x", "--schema-subject", "orders", "--schema-min-version=3"});
    CHECK(minimum.schema_min_version == 3U);
    CHECK_FALSE(minimum.schema_version);

    CHECK(contains(error_of({"produce", "-m", "x", "--schema-version", "1"}), "need --schema-subject"));
    CHECK(contains(error_of({"produce", "-m", "x", "--schema-min-version", "1"}), "need --schema-subject"));
    CHECK(contains(
        error_of({"produce", "-m", "x", "--schema-subject", "s", "--schema-version", "1", "--schema-min-version", "1"}),
        "not both"));
    CHECK(contains(error_of({"produce", "-m", "x", "--schema-subject", "s", "--schema-version", "0"}),
                   "--schema-version needs a version >= 1, not '0'"));
    CHECK(contains(error_of({"produce", "-m", "x", "--schema-subject", "s", "--schema-min-version", "v2"}),
                   "--schema-min-version needs a version >= 1"));
    CHECK(contains(error_of({"produce", "-m", "x", "--schema-subject", ""}), "a non-empty subject"));
    CHECK(contains(error_of({"consume", "--schema-subject", "s"}), "unknown argument '--schema-subject'"));
  }

  TEST_CASE("schema register") {
    const auto r = parsed_as<danube_cli::schema_register_args>(
        {"schema",       "register",    "-s",    "https://b:1", "--subject",     "orders",
         "--type",       "json_schema", "-f",    "o.json",      "--description", "the orders",
         "--created-by", "ops",         "--tag", "a",           "--tag",         "b",
         "--token",      "jwt"});
    CHECK(r.connection.service_addr == "https://b:1");
    CHECK(r.connection.token == "jwt");
    CHECK(r.subject == "orders");
    CHECK(r.type == danube::schema_type::json_schema);
    CHECK(r.file == "o.json");
    CHECK(r.description == "the orders");
    CHECK(r.created_by == "ops");
    CHECK(r.tags == std::vector<std::string>{"a", "b"});

    const auto minimal = parsed_as<danube_cli::schema_register_args>(
        {"schema", "register", "--subject", "s", "--type", "string"});  // no definition needed
    CHECK(minimal.type == danube::schema_type::string);
    CHECK_FALSE(minimal.file);
    CHECK_FALSE(minimal.description);
    CHECK_FALSE(minimal.created_by);
    CHECK(minimal.tags.empty());
    CHECK(minimal.connection.service_addr == "http://127.0.0.1:6650");
    CHECK(parsed_as<danube_cli::schema_register_args>(
              {"schema", "register", "--subject", "s", "--type", "AVRO", "--file=a.avsc"})
              .type == danube::schema_type::avro);
    CHECK(parsed_as<danube_cli::schema_register_args>(
              {"schema", "register", "--subject", "s", "--type", "protobuf", "-fp.proto"})
              .file == "p.proto");
    CHECK(parsed_as<danube_cli::schema_register_args>({"schema", "register", "--subject", "s", "--type", "number"})
              .type == danube::schema_type::number);
    CHECK(
        parsed_as<danube_cli::schema_register_args>({"schema", "register", "--subject", "s", "--type", "bytes"}).type ==
        danube::schema_type::bytes);

    CHECK(contains(error_of({"schema", "register", "--type", "string"}), "needs --subject"));
    CHECK(contains(error_of({"schema", "register", "--subject", "s"}), "needs --type"));
    CHECK(contains(error_of({"schema", "register", "--subject", "s", "--type", "json_schema"}),
                   "a json_schema schema needs its definition: -f/--file PATH"));
    CHECK(contains(error_of({"schema", "register", "--subject", "s", "--type", "xml"}),
                   "--type needs json_schema, avro, protobuf, string, bytes or number, not 'xml'"));
    CHECK(contains(error_of({"schema", "register", "--subject", "", "--type", "string"}), "a non-empty subject"));
    CHECK(contains(error_of({"schema", "register", "--subject", "s", "--type", "string", "--subject", "t"}),
                   "--subject was given more than once"));
    CHECK(contains(error_of({"schema", "register", "--subject", "s", "--type", "string", "--id", "1"}),
                   "unknown argument '--id'"));
  }

  TEST_CASE("schema get") {
    const auto by_id = parsed_as<danube_cli::schema_get_args>({"schema", "get", "--id", "7"});
    CHECK(by_id.id == 7U);
    CHECK_FALSE(by_id.version);
    CHECK_FALSE(by_id.subject);
    const auto versioned = parsed_as<danube_cli::schema_get_args>({"schema", "get", "--id", "7", "--version", "2"});
    CHECK(versioned.version == 2U);
    const auto by_subject = parsed_as<danube_cli::schema_get_args>({"schema", "get", "--subject", "orders"});
    CHECK(by_subject.subject == "orders");
    CHECK_FALSE(by_subject.id);

    CHECK(contains(error_of({"schema", "get"}), "either --id N or --subject SUBJECT"));
    CHECK(contains(error_of({"schema", "get", "--id", "1", "--subject", "s"}), "either --id N or --subject"));
    CHECK(
        contains(error_of({"schema", "get", "--subject", "s", "--version", "1"}), "--version only applies with --id"));
    CHECK(contains(error_of({"schema", "get", "--id", "0"}), "--id needs a schema id >= 1, not '0'"));
    CHECK(contains(error_of({"schema", "get", "--id", "1", "--version", "0"}), "--version needs a version >= 1"));
  }

  TEST_CASE("schema versions and check") {
    const auto v = parsed_as<danube_cli::schema_versions_args>({"schema", "versions", "--subject", "orders"});
    CHECK(v.subject == "orders");
    CHECK(contains(error_of({"schema", "versions"}), "needs --subject"));
    CHECK(
        contains(error_of({"schema", "versions", "--subject", "s", "--type", "string"}), "unknown argument '--type'"));

    const auto c = parsed_as<danube_cli::schema_check_args>(
        {"schema", "check", "--subject", "orders", "--type", "json", "-f", "v2.json", "--mode", "full"});
    CHECK(c.subject == "orders");
    CHECK(c.type == danube::schema_type::json_schema);
    CHECK(c.file == "v2.json");
    CHECK(c.mode == danube::compatibility_mode::full);
    CHECK_FALSE(parsed_as<danube_cli::schema_check_args>(
                    {"schema", "check", "--subject", "orders", "--type", "avro", "-f", "v2.avsc"})
                    .mode);
    CHECK(contains(error_of({"schema", "check", "--type", "avro", "-f", "x"}), "needs --subject"));
    CHECK(contains(error_of({"schema", "check", "--subject", "s", "-f", "x"}), "needs --type"));
    CHECK(contains(error_of({"schema", "check", "--subject", "s", "--type", "string"}), "-f/--file PATH"));
    CHECK(contains(error_of({"schema", "check", "--subject", "s", "--type", "avro", "-f", "x", "--mode", "strict"}),
                   "--mode needs none, backward, forward or full, not 'strict'"));
  }

  TEST_CASE("schema: actions, help and whose usage") {
    CHECK(contains(error_of({"schema"}), "missing schema action"));
    CHECK(contains(error_of({"schema", "delete"}), "unknown schema action 'delete'"));
    const auto missing = parse({"schema"});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().topic == danube_cli::subcommand::schema);
    const auto bad_flag = parse({"schema", "check", "--bogus"});
    REQUIRE_FALSE(bad_flag);
    CHECK(bad_flag.error().topic == danube_cli::subcommand::schema_check);

    for (const auto* h : {"-h", "--help", "help"}) {
      const auto r = parse({"schema", h});
      REQUIRE(r);
      CHECK(std::get<danube_cli::help_request>(*r).topic == danube_cli::subcommand::schema);
    }
    const auto reg = parse({"schema", "register", "--help"});
    REQUIRE(reg);
    CHECK(std::get<danube_cli::help_request>(*reg).topic == danube_cli::subcommand::schema_register);
    const auto get = parse({"schema", "get", "-h"});
    REQUIRE(get);
    CHECK(std::get<danube_cli::help_request>(*get).topic == danube_cli::subcommand::schema_get);
    CHECK(contains(danube_cli::usage(danube_cli::subcommand::schema_check), "0 compatible, 1 not compatible"));
  }
}

TEST_SUITE("cli security plan") {
  using danube_cli::plan_security;
  using danube_cli::security_plan;
  using danube_cli::tls_mode;

  TEST_CASE("the client type follows the URL scheme and the flags") {
    danube_cli::connection_args c;
    CHECK(plan_security(c) == security_plan{.token = false, .tls = tls_mode::plaintext, .credentials_in_clear = false});
    c.service_addr = "https://broker:6650";
    CHECK(plan_security(c) ==
          security_plan{.token = false, .tls = tls_mode::system_roots, .credentials_in_clear = false});
    c.token = "jwt";
    CHECK(plan_security(c) ==
          security_plan{.token = true, .tls = tls_mode::system_roots, .credentials_in_clear = false});
    c.ca_file = "ca.pem";
    CHECK(plan_security(c) == security_plan{.token = true, .tls = tls_mode::ca_file, .credentials_in_clear = false});
    c.cert = "c.pem";
    c.key_file = "k.pem";
    CHECK(plan_security(c) == security_plan{.token = true, .tls = tls_mode::mutual, .credentials_in_clear = false});
    c.token.reset();
    CHECK(plan_security(c) == security_plan{.token = false, .tls = tls_mode::mutual, .credentials_in_clear = false});
  }

  TEST_CASE("a token over http:// is refused unless explicitly allowed") {
    danube_cli::connection_args c;
    c.token = "jwt";
    const auto refused = plan_security(c);
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::invalid_argument);
    CHECK(cli_args_test::contains(refused.error().message(), "unencrypted"));
    CHECK(cli_args_test::contains(refused.error().message(), "--insecure-plaintext-credentials"));
    c.insecure_plaintext_credentials = true;
    CHECK(plan_security(c) == security_plan{.token = true, .tls = tls_mode::plaintext, .credentials_in_clear = true});
    c.token.reset();  // the opt-in alone changes nothing
    CHECK(plan_security(c) == security_plan{.token = false, .tls = tls_mode::plaintext, .credentials_in_clear = false});
  }

  TEST_CASE("inconsistent TLS flags") {
    const auto message_of = [](danube_cli::connection_args c) {
      const auto r = plan_security(c);
      return r ? std::string() : r.error().message();
    };
    using cli_args_test::contains;
    danube_cli::connection_args c;
    c.service_addr = "127.0.0.1:6650";
    CHECK(contains(message_of(c), "expected http://host:port or https://host:port"));
    c.service_addr = "http://h:1";
    c.ca_file = "ca.pem";
    CHECK(contains(message_of(c), "is http://; use https://"));
    c.service_addr = "https://h:1";
    c.cert = "c.pem";
    CHECK(contains(message_of(c), "both --cert and --key-file"));
    c.ca_file.reset();
    c.key_file = "k.pem";
    CHECK(contains(message_of(c), "needs --ca-file too"));
    danube_cli::connection_args s;
    s.service_addr = "https://h:1";
    s.insecure_plaintext_credentials = true;
    CHECK(contains(message_of(s), "only applies to http://"));
  }
}
