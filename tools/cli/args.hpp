// Command-line parsing for danube-cpp-cli: no I/O and no network, so every rule is unit-tested
// (tests/unit/test_cli_args.cpp). main.cpp turns the parsed arguments into a client, a producer or
// a consumer. The flags follow danube-cli; docs/cli.md describes each one.
#pragma once

#include <danube/consumer_options.hpp>
#include <danube/error.hpp>
#include <danube/message.hpp>
#include <danube/schema_types.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace danube_cli {

inline constexpr std::string_view default_service_addr = "http://127.0.0.1:6650";
inline constexpr std::string_view default_topic = "/default/test_topic";
inline constexpr std::string_view default_producer_name = "danube-cpp-cli-producer";
inline constexpr std::string_view default_consumer_name = "danube-cpp-cli-consumer";
inline constexpr std::string_view default_subscription = "danube-cpp-cli-subscription";
inline constexpr std::chrono::milliseconds default_interval{500};  // danube-cli's default

// How to reach the broker: shared by both subcommands.
struct connection_args {
  std::string service_addr{default_service_addr};
  std::optional<std::string> token;     // --token: a JWT sent as "authorization: Bearer <token>"
  std::optional<std::string> ca_file;   // --ca-file: PEM CA that verifies the broker
  std::optional<std::string> cert;      // --cert: PEM client certificate (mutual TLS)
  std::optional<std::string> key_file;  // --key-file: PEM client private key (mutual TLS)
  bool insecure_plaintext_credentials = false;
};

struct produce_args {
  connection_args connection;
  std::string topic{default_topic};
  std::string producer_name{default_producer_name};
  std::optional<std::string> message;  // -m: text; message i is "<text>-<i>" when count > 1
  std::optional<std::string> file;     // -f: the file's bytes, unchanged, for every message
  danube::attributes attributes;
  std::optional<std::uint32_t> partitions;
  std::uint64_t count = 1;
  std::chrono::milliseconds interval = default_interval;
  bool reliable = false;
  std::optional<std::string> key;  // -k: routing key (send_with_key)
  bool stats = false;              // --stats: print the producer's stats every 10 s and at the end
  // --schema-subject: publish with this registry subject (its latest version unless pinned).
  std::optional<std::string> schema_subject;
  std::optional<std::uint32_t> schema_version;      // --schema-version: exactly this version
  std::optional<std::uint32_t> schema_min_version;  // --schema-min-version: the latest, at least this
};

struct consume_args {
  connection_args connection;
  std::string topic{default_topic};
  std::string consumer_name{default_consumer_name};
  std::string subscription{default_subscription};
  danube::subscription_type sub_type = danube::subscription_type::shared;
  std::vector<std::string> key_filters;
  std::optional<std::uint64_t> count;                // stop (exit 0) after this many messages
  std::optional<std::chrono::milliseconds> timeout;  // overall bound; counting from the start
  bool json = false;
  bool stats = false;  // --stats: print the consumer's stats every 10 s and at the end
};

// schema register: a new version of --subject from --file (or the existing one with that content).
struct schema_register_args {
  connection_args connection;
  std::string subject;
  danube::schema_type type = danube::schema_type::bytes;
  std::optional<std::string> file;  // required for json_schema, avro and protobuf
  std::optional<std::string> description;
  std::optional<std::string> created_by;
  std::vector<std::string> tags;
};

// schema get: by --id (latest or --version) or by --subject (its latest version).
struct schema_get_args {
  connection_args connection;
  std::optional<std::uint64_t> id;
  std::optional<std::uint32_t> version;
  std::optional<std::string> subject;
};

struct schema_versions_args {
  connection_args connection;
  std::string subject;
};

// schema check: would --file be compatible with --subject's latest version (registers nothing).
struct schema_check_args {
  connection_args connection;
  std::string subject;
  danube::schema_type type = danube::schema_type::bytes;
  std::string file;
  std::optional<danube::compatibility_mode> mode;
};

enum class subcommand : std::uint8_t {
  none,
  produce,
  consume,
  schema,  // the group: `schema --help` lists its actions
  schema_register,
  schema_get,
  schema_versions,
  schema_check,
};

// -h/--help: print the usage of `topic` on stdout and exit 0.
struct help_request {
  subcommand topic = subcommand::none;
};

// The command line could not be understood: the message, and whose usage to print after it.
struct usage_error {
  std::string message;
  subcommand topic = subcommand::none;
};

using command = std::variant<produce_args, consume_args, schema_register_args, schema_get_args, schema_versions_args,
                             schema_check_args, help_request>;

// ---------------------------------------------------------------------------------------------
// The flags. The tables drive both the parser and the usage text, so they cannot disagree. Each
// subcommand accepts its own table plus connection_flags (which has --help).

enum class flag : std::uint8_t {
  service_addr,
  topic,
  producer_name,
  consumer_name,
  message,
  file,
  attributes,
  partitions,
  count,
  interval,
  reliable,
  key,
  subscription,
  sub_type,
  key_filter,
  timeout,
  json,
  token,
  ca_file,
  cert,
  key_file,
  insecure_plaintext_credentials,
  help,
  schema_subject,
  schema_version,
  schema_min_version,
  subject,
  schema_type,
  description,
  created_by,
  tag,
  schema_id,
  version,
  mode,
  stats,
};

struct flag_spec {
  flag id;
  char short_name;  // '\0': long form only
  std::string_view long_name;
  std::string_view value_name;  // empty: a switch without a value
  bool repeatable;
  std::string_view help;
};

inline constexpr std::array<flag_spec, 7> connection_flags{{
    {flag::service_addr, 's', "service-addr", "URL", false,
     "http://host:port or https://host:port (default http://127.0.0.1:6650)"},
    {flag::token, '\0', "token", "JWT", false, "send 'authorization: Bearer JWT' on every call (needs https://)"},
    {flag::ca_file, '\0', "ca-file", "PEM", false, "verify the broker with this CA instead of the system roots"},
    {flag::cert, '\0', "cert", "PEM", false, "client certificate for mutual TLS (with --key-file and --ca-file)"},
    {flag::key_file, '\0', "key-file", "PEM", false, "client private key for mutual TLS"},
    {flag::insecure_plaintext_credentials, '\0', "insecure-plaintext-credentials", "", false,
     "allow --token over http:// (the token travels in clear)"},
    {flag::help, 'h', "help", "", false, "print this help and exit"},
}};

inline constexpr std::array<flag_spec, 14> produce_flags{{
    {flag::topic, 't', "topic", "TOPIC", false, "topic to publish to (default /default/test_topic)"},
    {flag::producer_name, 'n', "producer-name", "NAME", false, "producer name (default danube-cpp-cli-producer)"},
    {flag::message, 'm', "message", "TEXT", false, "payload; with --count N > 1, message i is TEXT-i"},
    {flag::file, 'f', "file", "PATH", false, "payload read from a file, sent unchanged (instead of -m)"},
    {flag::attributes, 'a', "attributes", "K:V,...", true, "attributes, e.g. 'k1:v1,k2:v2' (repeatable)"},
    {flag::partitions, 'p', "partitions", "N", false, "partitioned topic of N partitions (N >= 1)"},
    {flag::count, 'c', "count", "N", false, "number of messages to send (default 1)"},
    {flag::interval, 'i', "interval", "MS", false, "pause between messages (default 500; 0 = as fast as possible)"},
    {flag::reliable, '\0', "reliable", "", false, "reliable dispatch: the broker stores and redelivers"},
    {flag::key, 'k', "key", "KEY", false, "routing key: picks the partition, drives key_shared dispatch"},
    {flag::schema_subject, '\0', "schema-subject", "SUBJECT", false,
     "publish with this registry subject (its latest version by default)"},
    {flag::schema_version, '\0', "schema-version", "N", false, "with --schema-subject: exactly version N"},
    {flag::schema_min_version, '\0', "schema-min-version", "N", false,
     "with --schema-subject: the latest version, which must be at least N"},
    {flag::stats, '\0', "stats", "", false, "print the producer's stats to stderr every 10 s and at the end"},
}};

inline constexpr std::array<flag_spec, 6> schema_register_flags{{
    {flag::subject, '\0', "subject", "SUBJECT", false, "the subject to register a version of (required)"},
    {flag::schema_type, '\0', "type", "TYPE", false, "json_schema, avro, protobuf, string, bytes or number (required)"},
    {flag::file, 'f', "file", "PATH", false, "the schema definition (required for json_schema, avro, protobuf)"},
    {flag::description, '\0', "description", "TEXT", false, "a description of this version"},
    {flag::created_by, '\0', "created-by", "NAME", false, "who registers it (default danube-cpp)"},
    {flag::tag, '\0', "tag", "TAG", true, "a tag (repeatable)"},
}};

inline constexpr std::array<flag_spec, 3> schema_get_flags{{
    {flag::schema_id, '\0', "id", "N", false, "the schema id (its latest version, or --version)"},
    {flag::version, '\0', "version", "N", false, "with --id: this version"},
    {flag::subject, '\0', "subject", "SUBJECT", false, "the subject's latest version (instead of --id)"},
}};

inline constexpr std::array<flag_spec, 1> schema_versions_flags{{
    {flag::subject, '\0', "subject", "SUBJECT", false, "the subject (required)"},
}};

inline constexpr std::array<flag_spec, 4> schema_check_flags{{
    {flag::subject, '\0', "subject", "SUBJECT", false, "the subject to check against (required)"},
    {flag::schema_type, '\0', "type", "TYPE", false, "json_schema, avro, protobuf, string, bytes or number (required)"},
    {flag::file, 'f', "file", "PATH", false, "the candidate definition (required)"},
    {flag::mode, '\0', "mode", "MODE", false, "none, backward, forward or full (default: the subject's mode)"},
}};

inline constexpr std::array<flag_spec, 9> consume_flags{{
    {flag::topic, 't', "topic", "TOPIC", false, "topic to consume from (default /default/test_topic)"},
    {flag::consumer_name, 'n', "consumer-name", "NAME", false, "consumer name (default danube-cpp-cli-consumer)"},
    {flag::subscription, 'm', "subscription", "NAME", false, "subscription name (default danube-cpp-cli-subscription)"},
    {flag::sub_type, '\0', "sub-type", "TYPE", false, "exclusive, shared (default), failover or key_shared"},
    {flag::key_filter, '\0', "key-filter", "GLOB", true, "key_shared only: receive keys matching GLOB (repeatable)"},
    {flag::count, 'c', "count", "N", false, "exit 0 after N messages (default: run until interrupted)"},
    {flag::timeout, '\0', "timeout", "SECONDS", false, "give up after SECONDS; exit 1 if --count was not reached"},
    {flag::json, '\0', "json", "", false, "one JSON object per message and line (docs/cli.md)"},
    {flag::stats, '\0', "stats", "", false, "print the consumer's stats to stderr every 10 s and at the end"},
}};

namespace detail {

inline void append_flag_lines(std::string& out, std::span<const flag_spec> flags) {
  for (const auto& f : flags) {
    std::string left = "  ";
    left += f.short_name != '\0' ? std::string{'-', f.short_name} + ", " : std::string("    ");
    left += "--";
    left += f.long_name;
    if (!f.value_name.empty()) {
      left += ' ';
      left += f.value_name;
    }
    constexpr std::size_t column = 40;
    left.resize(std::max(left.size() + 1, column), ' ');
    out += left;
    out += f.help;
    out += '\n';
  }
}

}  // namespace detail

[[nodiscard]] inline std::string usage(subcommand topic) {
  std::string out;
  switch (topic) {
    case subcommand::none:
      out =
          "usage: danube-cpp-cli <produce|consume|schema> [FLAGS]\n"
          "  produce    publish messages to a topic\n"
          "  consume    receive (and acknowledge) messages from a subscription\n"
          "  schema     register, get, list versions of and check schemas (schema registry)\n"
          "Run 'danube-cpp-cli produce --help', 'danube-cpp-cli consume --help' or\n"
          "'danube-cpp-cli schema --help' for the flags.\n";
      return out;
    case subcommand::schema:
      out =
          "usage: danube-cpp-cli schema <register|get|versions|check> [FLAGS]\n"
          "  register   register a schema version under a subject\n"
          "  get        print a schema version and its definition\n"
          "  versions   list the versions of a subject\n"
          "  check      check a definition's compatibility with a subject (exit 0 compatible, 1 not)\n"
          "Run 'danube-cpp-cli schema <action> --help' for the flags.\n";
      return out;
    case subcommand::schema_register:
      out = "usage: danube-cpp-cli schema register [-s URL] --subject SUBJECT --type TYPE [-f PATH] [FLAGS]\n";
      detail::append_flag_lines(out, schema_register_flags);
      break;
    case subcommand::schema_get:
      out = "usage: danube-cpp-cli schema get [-s URL] (--id N [--version V] | --subject SUBJECT)\n";
      detail::append_flag_lines(out, schema_get_flags);
      break;
    case subcommand::schema_versions:
      out = "usage: danube-cpp-cli schema versions [-s URL] --subject SUBJECT\n";
      detail::append_flag_lines(out, schema_versions_flags);
      break;
    case subcommand::schema_check:
      out = "usage: danube-cpp-cli schema check [-s URL] --subject SUBJECT --type TYPE -f PATH [--mode MODE]\n";
      detail::append_flag_lines(out, schema_check_flags);
      break;
    case subcommand::produce:
      out = "usage: danube-cpp-cli produce [-s URL] [-t TOPIC] (-m TEXT | -f PATH) [FLAGS]\n";
      detail::append_flag_lines(out, produce_flags);
      break;
    case subcommand::consume:
      out = "usage: danube-cpp-cli consume [-s URL] [-t TOPIC] [-m SUBSCRIPTION] [FLAGS]\n";
      detail::append_flag_lines(out, consume_flags);
      break;
  }
  out += "connection:\n";
  detail::append_flag_lines(out, connection_flags);
  if (topic == subcommand::schema_check) {
    out += "Exit status: 0 compatible, 1 not compatible or a failure, 2 bad usage.\n";
  } else {
    out += "Exit status: 0 success, 1 failure (an 'error: <code>: <message>' line on stderr), 2 bad usage.\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Value parsers. Each returns the value or a message naming the flag and what it wanted.

namespace detail {

template <class T>
[[nodiscard]] std::optional<T> parse_unsigned(std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

[[nodiscard]] inline std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

}  // namespace detail

// "k1:v1,k2:v2": split at commas, each pair at its first ':'; blanks around keys and values are
// dropped (as danube-cli does). Values may contain ':' but not ','.
[[nodiscard]] inline std::expected<danube::attributes, std::string> parse_attributes(std::string_view text) {
  danube::attributes out;
  if (detail::trim(text).empty()) {
    return std::unexpected("--attributes: expected key:value[,key:value...], got an empty value");
  }
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    const auto pair = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    const auto colon = pair.find(':');
    if (colon == std::string_view::npos) {
      return std::unexpected("--attributes: '" + std::string(pair) + "' is not key:value");
    }
    const auto key = detail::trim(pair.substr(0, colon));
    if (key.empty()) {
      return std::unexpected("--attributes: '" + std::string(pair) + "' has an empty key");
    }
    out.insert_or_assign(std::string(key), std::string(detail::trim(pair.substr(colon + 1))));
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

[[nodiscard]] inline std::optional<danube::subscription_type> parse_subscription_type(std::string_view text) {
  if (text == "exclusive") {
    return danube::subscription_type::exclusive;
  }
  if (text == "shared") {
    return danube::subscription_type::shared;
  }
  if (text == "failover" || text == "fail-over" || text == "fail_over") {
    return danube::subscription_type::failover;
  }
  if (text == "key_shared" || text == "key-shared") {
    return danube::subscription_type::key_shared;
  }
  return std::nullopt;
}

[[nodiscard]] constexpr std::string_view to_string(danube::subscription_type type) noexcept {
  switch (type) {
    case danube::subscription_type::exclusive: return "exclusive";
    case danube::subscription_type::shared: return "shared";
    case danube::subscription_type::failover: return "failover";
    case danube::subscription_type::key_shared: return "key_shared";
  }
  return "unknown";
}

// Positive decimal seconds ("20", "0.5") as milliseconds, at least 1 ms, at most a year.
[[nodiscard]] inline std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text) {
  double seconds = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(seconds) ||
      seconds <= 0 || seconds > 365.0 * 24 * 3600) {
    return std::nullopt;
  }
  const auto ms = static_cast<std::int64_t>(std::ceil(seconds * 1000.0));
  return std::chrono::milliseconds(std::max<std::int64_t>(ms, 1));
}

// ---------------------------------------------------------------------------------------------
// The parser.

namespace detail {

struct matched_flag {
  const flag_spec* spec = nullptr;
  std::optional<std::string_view> value;  // given inline: --name=value or -xVALUE
};

// Finds `arg` among `tables`; nullopt when it is not a flag of this subcommand.
[[nodiscard]] inline std::optional<matched_flag> match_flag(std::string_view arg,
                                                            std::span<const std::span<const flag_spec>> tables) {
  if (arg.starts_with("--") && arg.size() > 2) {
    auto name = arg.substr(2);
    std::optional<std::string_view> value;
    if (const auto eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    for (const auto table : tables) {
      for (const auto& f : table) {
        if (!f.long_name.empty() && f.long_name == name) {
          return matched_flag{&f, value};
        }
      }
    }
    return std::nullopt;
  }
  if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
    for (const auto table : tables) {
      for (const auto& f : table) {
        if (f.short_name != '\0' && f.short_name == arg[1]) {
          if (arg.size() == 2) {
            return matched_flag{&f, std::nullopt};
          }
          if (f.value_name.empty()) {
            return std::nullopt;  // "-hx": switches take no value
          }
          return matched_flag{&f, arg.substr(2)};  // "-c5"
        }
      }
    }
  }
  return std::nullopt;
}

[[nodiscard]] inline std::string flag_name(const flag_spec& f) { return "--" + std::string(f.long_name); }

}  // namespace detail

// argv without the program name: {"produce", "-t", "/default/x", ...}.
[[nodiscard]] inline std::expected<command, usage_error> parse_command_line(std::span<const std::string_view> args) {
  if (args.empty()) {
    return std::unexpected(usage_error{"missing subcommand: produce, consume or schema", subcommand::none});
  }
  const auto first = args.front();
  if (first == "-h" || first == "--help" || first == "help") {
    return help_request{subcommand::none};
  }
  subcommand which = subcommand::none;
  std::span<const flag_spec> own;
  std::size_t flags_start = 1;
  if (first == "produce") {
    which = subcommand::produce;
    own = produce_flags;
  } else if (first == "consume") {
    which = subcommand::consume;
    own = consume_flags;
  } else if (first == "schema") {
    if (args.size() < 2) {
      return std::unexpected(
          usage_error{"missing schema action: register, get, versions or check", subcommand::schema});
    }
    const auto action = args[1];
    flags_start = 2;
    if (action == "-h" || action == "--help" || action == "help") {
      return help_request{subcommand::schema};
    }
    if (action == "register") {
      which = subcommand::schema_register;
      own = schema_register_flags;
    } else if (action == "get") {
      which = subcommand::schema_get;
      own = schema_get_flags;
    } else if (action == "versions") {
      which = subcommand::schema_versions;
      own = schema_versions_flags;
    } else if (action == "check") {
      which = subcommand::schema_check;
      own = schema_check_flags;
    } else {
      return std::unexpected(
          usage_error{"unknown schema action '" + std::string(action) + "' (expected register, get, versions or check)",
                      subcommand::schema});
    }
  } else {
    return std::unexpected(usage_error{
        "unknown subcommand '" + std::string(first) + "' (expected produce, consume or schema)", subcommand::none});
  }
  const std::array<std::span<const flag_spec>, 2> tables{own, std::span<const flag_spec>(connection_flags)};
  const auto fail = [&](std::string message) { return std::unexpected(usage_error{std::move(message), which}); };

  produce_args produce;
  consume_args consume;
  connection_args schema_connection;
  connection_args& connection = which == subcommand::produce   ? produce.connection
                                : which == subcommand::consume ? consume.connection
                                                               : schema_connection;
  // The values of the schema actions' flags, checked per action after the loop.
  std::optional<std::string> subject;
  std::optional<danube::schema_type> schema_kind;
  std::optional<std::string> schema_file;
  std::optional<std::string> description;
  std::optional<std::string> created_by;
  std::vector<std::string> tags;
  std::optional<std::uint64_t> schema_id;
  std::optional<std::uint32_t> version;
  std::optional<danube::compatibility_mode> mode;
  std::vector<flag> seen;

  for (std::size_t i = flags_start; i < args.size(); ++i) {
    const auto arg = args[i];
    const auto matched = detail::match_flag(arg, tables);
    if (!matched) {
      return fail("unknown argument '" + std::string(arg) + "'");
    }
    const flag_spec& spec = *matched->spec;
    if (spec.id == flag::help) {
      if (matched->value) {
        return fail("--help takes no value");
      }
      return help_request{which};
    }
    if (!spec.repeatable) {
      for (const auto id : seen) {
        if (id == spec.id) {
          return fail(detail::flag_name(spec) + " was given more than once");
        }
      }
    }
    seen.push_back(spec.id);

    std::string_view value;
    if (spec.value_name.empty()) {
      if (matched->value) {
        return fail(detail::flag_name(spec) + " takes no value");
      }
    } else if (matched->value) {
      value = *matched->value;
    } else {
      if (i + 1 >= args.size()) {
        return fail(detail::flag_name(spec) + " needs a value (" + std::string(spec.value_name) + ")");
      }
      value = args[++i];  // taken verbatim, even when it starts with '-'
    }
    const auto bad_value = [&](std::string_view wanted) {
      return fail(detail::flag_name(spec) + " needs " + std::string(wanted) + ", not '" + std::string(value) + "'");
    };

    switch (spec.id) {
      case flag::service_addr: connection.service_addr = std::string(value); break;
      case flag::token: connection.token = std::string(value); break;
      case flag::ca_file: connection.ca_file = std::string(value); break;
      case flag::cert: connection.cert = std::string(value); break;
      case flag::key_file: connection.key_file = std::string(value); break;
      case flag::insecure_plaintext_credentials: connection.insecure_plaintext_credentials = true; break;
      case flag::topic: (which == subcommand::produce ? produce.topic : consume.topic) = std::string(value); break;
      case flag::producer_name: produce.producer_name = std::string(value); break;
      case flag::consumer_name: consume.consumer_name = std::string(value); break;
      case flag::message: produce.message = std::string(value); break;
      case flag::file: (which == subcommand::produce ? produce.file : schema_file) = std::string(value); break;
      case flag::attributes: {
        auto parsed = parse_attributes(value);
        if (!parsed) {
          return fail(std::move(parsed).error());
        }
        for (auto& [k, v] : *parsed) {
          produce.attributes.insert_or_assign(k, std::move(v));
        }
        break;
      }
      case flag::partitions: {
        const auto n = detail::parse_unsigned<std::uint32_t>(value);
        if (!n || *n == 0) {
          return bad_value("a number of partitions >= 1");
        }
        produce.partitions = *n;
        break;
      }
      case flag::count: {
        const auto n = detail::parse_unsigned<std::uint64_t>(value);
        if (!n || *n == 0) {
          return bad_value("a count >= 1");
        }
        (which == subcommand::produce ? produce.count : consume.count.emplace()) = *n;
        break;
      }
      case flag::interval: {
        const auto n = detail::parse_unsigned<std::uint32_t>(value);
        if (!n) {
          return bad_value("milliseconds (0 or more)");
        }
        produce.interval = std::chrono::milliseconds(*n);
        break;
      }
      case flag::reliable: produce.reliable = true; break;
      case flag::key: produce.key = std::string(value); break;
      case flag::subscription: consume.subscription = std::string(value); break;
      case flag::sub_type: {
        const auto type = parse_subscription_type(value);
        if (!type) {
          return bad_value("exclusive, shared, failover or key_shared");
        }
        consume.sub_type = *type;
        break;
      }
      case flag::key_filter:
        if (value.empty()) {
          return bad_value("a non-empty glob");
        }
        consume.key_filters.emplace_back(value);
        break;
      case flag::timeout: {
        const auto t = parse_seconds(value);
        if (!t) {
          return bad_value("a positive number of seconds");
        }
        consume.timeout = *t;
        break;
      }
      case flag::json: consume.json = true; break;
      case flag::stats: (which == subcommand::produce ? produce.stats : consume.stats) = true; break;
      case flag::schema_subject:
        if (value.empty()) {
          return bad_value("a non-empty subject");
        }
        produce.schema_subject = std::string(value);
        break;
      case flag::schema_version:
      case flag::schema_min_version:
      case flag::version: {
        const auto n = detail::parse_unsigned<std::uint32_t>(value);
        if (!n || *n == 0) {
          return bad_value("a version >= 1");
        }
        (spec.id == flag::schema_version       ? produce.schema_version
         : spec.id == flag::schema_min_version ? produce.schema_min_version
                                               : version) = *n;
        break;
      }
      case flag::subject:
        if (value.empty()) {
          return bad_value("a non-empty subject");
        }
        subject = std::string(value);
        break;
      case flag::schema_type:
        schema_kind = danube::schema_type_from_string(value);
        if (!schema_kind) {
          return bad_value("json_schema, avro, protobuf, string, bytes or number");
        }
        break;
      case flag::description: description = std::string(value); break;
      case flag::created_by: created_by = std::string(value); break;
      case flag::tag:
        if (value.empty()) {
          return bad_value("a non-empty tag");
        }
        tags.emplace_back(value);
        break;
      case flag::schema_id: {
        const auto n = detail::parse_unsigned<std::uint64_t>(value);
        if (!n || *n == 0) {
          return bad_value("a schema id >= 1");
        }
        schema_id = *n;
        break;
      }
      case flag::mode:
        mode = danube::compatibility_mode_from_string(value);
        if (!mode) {
          return bad_value("none, backward, forward or full");
        }
        break;
      case flag::help: break;  // handled above
    }
  }

  if (connection.token && connection.token->empty()) {
    return fail("--token needs a non-empty value");
  }
  switch (which) {
    case subcommand::schema_register: {
      if (!subject) {
        return fail("schema register needs --subject SUBJECT");
      }
      if (!schema_kind) {
        return fail("schema register needs --type TYPE");
      }
      const bool has_text = *schema_kind == danube::schema_type::json_schema ||
                            *schema_kind == danube::schema_type::avro || *schema_kind == danube::schema_type::protobuf;
      if (has_text && !schema_file) {
        return fail("a " + std::string(danube::to_string(*schema_kind)) +
                    " schema needs its definition: -f/--file PATH");
      }
      return schema_register_args{.connection = std::move(schema_connection),
                                  .subject = std::move(*subject),
                                  .type = *schema_kind,
                                  .file = std::move(schema_file),
                                  .description = std::move(description),
                                  .created_by = std::move(created_by),
                                  .tags = std::move(tags)};
    }
    case subcommand::schema_get:
      if (schema_id.has_value() == subject.has_value()) {
        return fail("schema get needs either --id N or --subject SUBJECT");
      }
      if (version && !schema_id) {
        return fail("--version only applies with --id");
      }
      return schema_get_args{.connection = std::move(schema_connection),
                             .id = schema_id,
                             .version = version,
                             .subject = std::move(subject)};
    case subcommand::schema_versions:
      if (!subject) {
        return fail("schema versions needs --subject SUBJECT");
      }
      return schema_versions_args{.connection = std::move(schema_connection), .subject = std::move(*subject)};
    case subcommand::schema_check:
      if (!subject) {
        return fail("schema check needs --subject SUBJECT");
      }
      if (!schema_kind) {
        return fail("schema check needs --type TYPE");
      }
      if (!schema_file) {
        return fail("schema check needs the candidate definition: -f/--file PATH");
      }
      return schema_check_args{.connection = std::move(schema_connection),
                               .subject = std::move(*subject),
                               .type = *schema_kind,
                               .file = std::move(*schema_file),
                               .mode = mode};
    default: break;
  }

  if (which == subcommand::produce) {
    if ((produce.schema_version || produce.schema_min_version) && !produce.schema_subject) {
      return fail("--schema-version and --schema-min-version need --schema-subject");
    }
    if (produce.schema_version && produce.schema_min_version) {
      return fail("give either --schema-version or --schema-min-version, not both");
    }
    if (produce.message && produce.file) {
      return fail("give the payload either with -m/--message or with -f/--file, not both");
    }
    if (!produce.message && !produce.file) {
      return fail("produce needs a payload: -m/--message TEXT or -f/--file PATH");
    }
    return produce;
  }
  if (!consume.key_filters.empty() && consume.sub_type != danube::subscription_type::key_shared) {
    return fail("--key-filter only applies to --sub-type key_shared");
  }
  return consume;
}

// ---------------------------------------------------------------------------------------------
// Which client type the flags call for. The client's auth and TLS are compile-time policies, so
// main.cpp instantiates one client type per plan (see run_with_client there).

enum class tls_mode : std::uint8_t {
  plaintext,     // http://
  system_roots,  // https://, the operating system's trust store
  ca_file,       // https://, --ca-file
  mutual,        // https://, --ca-file + --cert + --key-file
};

struct security_plan {
  bool token = false;  // auth::static_token; otherwise auth::none
  tls_mode tls = tls_mode::plaintext;
  // --token over http:// with --insecure-plaintext-credentials: tls::plaintext_insecure.
  bool credentials_in_clear = false;

  friend bool operator==(const security_plan&, const security_plan&) = default;
};

// Errors are errc::invalid_argument with a message for the person at the terminal.
[[nodiscard]] inline danube::result<security_plan> plan_security(const connection_args& c) {
  const auto refuse = [](std::string message) {
    return danube::unexpected_error(danube::errc::invalid_argument, std::move(message));
  };
  security_plan plan;
  plan.token = c.token.has_value();
  const std::string_view url = c.service_addr;
  bool https = false;
  if (url.starts_with("https://")) {
    https = true;
  } else if (!url.starts_with("http://")) {
    return refuse("invalid service URL '" + c.service_addr + "': expected http://host:port or https://host:port");
  }
  if (c.cert.has_value() != c.key_file.has_value()) {
    return refuse("mutual TLS needs both --cert and --key-file");
  }
  if (c.cert && !c.ca_file) {
    return refuse("mutual TLS needs --ca-file too (the CA that verifies the broker)");
  }
  if (!https) {
    if (c.ca_file || c.cert) {
      return refuse("--ca-file, --cert and --key-file configure TLS, but the service URL '" + c.service_addr +
                    "' is http://; use https://");
    }
    if (c.token && !c.insecure_plaintext_credentials) {
      return refuse(
          "refusing to send --token over http://: the token would travel unencrypted, readable and reusable by "
          "anyone on the network path. Use an https:// service URL, or pass --insecure-plaintext-credentials if "
          "the path is trusted (loopback, or a sidecar that terminates TLS)");
    }
    plan.tls = tls_mode::plaintext;
    plan.credentials_in_clear = plan.token;
    return plan;
  }
  if (c.insecure_plaintext_credentials) {
    return refuse("--insecure-plaintext-credentials only applies to http:// service URLs");
  }
  plan.tls = c.cert ? tls_mode::mutual : c.ca_file ? tls_mode::ca_file : tls_mode::system_roots;
  return plan;
}

}  // namespace danube_cli
