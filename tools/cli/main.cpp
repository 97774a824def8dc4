// danube-cpp-cli: publish to and consume from a Danube broker from the shell (docs/cli.md).
//
//   danube-cpp-cli produce -s http://127.0.0.1:6650 -t /default/orders -m hello -c 10 -i 0
//   danube-cpp-cli consume -s http://127.0.0.1:6650 -t /default/orders -m audit --count 10 --json
//   danube-cpp-cli schema register -s http://127.0.0.1:6650 --subject orders --type json_schema -f orders.json
//
// Exit status: 0 success; 1 a failure, reported as "error: <code>: <message>" on stderr; 2 a command
// line that cannot be used (the usage or the reason on stderr).
//
// The client's auth and TLS are compile-time policies while the flags are only known at run time:
// with_client() picks one of the eight basic_client<Auth, Tls> types the flags can call for and
// hands it to a generic body, so each body is compiled once per client type.
#include "args.hpp"
#include "output.hpp"
#include <danube/client.hpp>
#include <danube/consumer.hpp>
#include <danube/error.hpp>
#include <danube/message.hpp>
#include <danube/policies/auth.hpp>
#include <danube/policies/concepts.hpp>
#include <danube/policies/retry.hpp>
#include <danube/policies/tls.hpp>
#include <danube/producer.hpp>
#include <danube/producer_options.hpp>
#include <danube/schema_registry.hpp>
#include <danube/schema_types.hpp>
#include <danube/stats.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// How many sends --interval 0 keeps queued before waiting for the oldest answer.
constexpr std::size_t send_window = 256;

int report(const danube::error& e) {
  fmt::print(stderr, "error: {}\n", e);
  return 1;
}

// --stats: how often the stats are printed while running (and once more at the end).
constexpr milliseconds stats_interval = std::chrono::seconds(10);

// Stats go to stderr, each line prefixed "stats: ", partitions included.
template <class Stats>
void print_stats(const Stats& s) {
  auto text = fmt::format("{:p}", s);
  std::string out = "stats: ";
  for (const char ch : text) {
    out += ch;
    if (ch == '\n') {
      out += "stats: ";
    }
  }
  fmt::print(stderr, "{}\n", out);
  std::fflush(stderr);
}

// The library's exponential backoff, except that it never schedules a retry past `deadline`: with
// --timeout, connecting to an unreachable broker gives up in time.
struct deadline_retry {
  danube::retry::exponential_backoff backoff;
  steady_clock::time_point deadline = steady_clock::time_point::max();

  [[nodiscard]] std::optional<milliseconds> next_delay(const danube::error& failure, unsigned attempt) const {
    auto delay = backoff.next_delay(failure, attempt);
    if (delay && deadline - steady_clock::now() <= *delay) {
      return std::nullopt;
    }
    return delay;
  }
};
static_assert(danube::retry_policy<deadline_retry>);

// ---------------------------------------------------------------------------------------------
// Run-time choice of the compile-time client type.

template <class Auth, class Tls, class Body>
int run_with_client(const danube_cli::connection_args& c, Auth auth, Tls tls, std::optional<milliseconds> limit,
                    bool stats, Body& body) {
  auto builder = danube::basic_client<Auth, Tls>::builder();
  builder.service_url(c.service_addr).auth(std::move(auth)).tls(std::move(tls));
  if (stats) {
    builder.stats_interval(stats_interval, [](const danube::client_stats& all) { print_stats(all); });
  }
  if (limit) {
    // Keep single calls within the run's own bound.
    builder.connect_timeout(std::min<milliseconds>(std::chrono::seconds(10), *limit));
    builder.call_timeout(std::min<milliseconds>(std::chrono::seconds(30), *limit));
  }
  auto client = builder.build();
  if (!client) {
    return report(client.error());
  }
  return body(*client);
}

// Calls body(client) with the client the plan describes; `limit` bounds connect and call timeouts;
// with `stats` the client prints its stats every stats_interval.
template <class Body>
int with_client(const danube_cli::connection_args& c, const danube_cli::security_plan& plan,
                std::optional<milliseconds> limit, bool stats, Body&& body) {
  namespace auth = danube::auth;
  namespace tls = danube::tls;
  const auto with_auth = [&](auto tls_policy) {
    if (plan.token) {
      return run_with_client(c, auth::static_token(*c.token), std::move(tls_policy), limit, stats, body);
    }
    return run_with_client(c, auth::none{}, std::move(tls_policy), limit, stats, body);
  };
  switch (plan.tls) {
    case danube_cli::tls_mode::plaintext:
      // Never static_token with tls::plaintext: that combination does not compile, by design.
      if (plan.token) {
        if (!plan.credentials_in_clear) {
          return report(danube::error(danube::errc::invalid_argument, "refusing to send --token over http://"));
        }
        return run_with_client(c, auth::static_token(*c.token), tls::plaintext_insecure{}, limit, stats, body);
      }
      return run_with_client(c, auth::none{}, tls::plaintext{}, limit, stats, body);
    case danube_cli::tls_mode::system_roots: return with_auth(tls::system_roots{});
    case danube_cli::tls_mode::ca_file: return with_auth(tls::ca_file(*c.ca_file));
    case danube_cli::tls_mode::mutual: return with_auth(tls::mutual(*c.ca_file, *c.cert, *c.key_file));
  }
  return report(danube::error(danube::errc::internal, "unknown TLS mode"));
}

// ---------------------------------------------------------------------------------------------
// produce

danube::result<std::string> read_payload_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int code = errno;
    return danube::unexpected_error(danube::errc::invalid_argument,
                                    "cannot open --file '" + path + "': " + std::generic_category().message(code));
  }
  std::string bytes;
  char buffer[64 * 1024];
  for (;;) {
    const auto n = std::fread(buffer, 1, sizeof buffer, file);
    bytes.append(buffer, n);
    if (n < sizeof buffer) {
      break;
    }
  }
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) {
    return danube::unexpected_error(danube::errc::invalid_argument, "cannot read --file '" + path + "'");
  }
  return bytes;
}

int produce(const danube_cli::produce_args& a, const danube_cli::security_plan& plan) {
  std::string file_payload;
  if (a.file) {
    auto bytes = read_payload_file(*a.file);
    if (!bytes) {
      return report(bytes.error());
    }
    file_payload = std::move(*bytes);
  }
  // Message i (1-based): the --message text, suffixed "-i" when more than one is sent; or the file.
  const auto payload_of = [&](std::uint64_t i) -> std::string {
    if (a.file) {
      return file_payload;
    }
    return a.count > 1 ? *a.message + "-" + std::to_string(i) : *a.message;
  };

  return with_client(a.connection, plan, std::nullopt, a.stats, [&](auto& client) -> int {
    auto builder = client.new_producer();
    builder.topic(a.topic).name(a.producer_name);
    if (a.partitions) {
      builder.partitions(*a.partitions);
    }
    if (a.reliable) {
      builder.dispatch(danube::dispatch_strategy::reliable);
    }
    if (a.schema_subject) {
      builder.schema(*a.schema_subject);
      if (a.schema_version) {
        builder.schema_version(*a.schema_version);
      }
      if (a.schema_min_version) {
        builder.schema_min_version(*a.schema_min_version);
      }
    }
    auto producer = builder.build();
    if (!producer) {
      return report(producer.error());
    }
    if (auto ok = producer->create(); !ok) {
      return report(ok.error());
    }
    const auto send = [&](std::uint64_t i) {
      return a.key ? producer->send_with_key_async(*a.key, payload_of(i), a.attributes)
                   : producer->send_async(payload_of(i), a.attributes);
    };

    std::uint64_t acknowledged = 0;
    std::optional<danube::error> failure;
    std::deque<std::future<danube::result<danube::message_id>>> in_flight;
    const auto settle_oldest = [&] {
      auto outcome = in_flight.front().get();
      in_flight.pop_front();
      if (outcome) {
        ++acknowledged;
      } else if (!failure) {
        failure = std::move(outcome).error();
      }
    };
    for (std::uint64_t i = 1; i <= a.count && !failure; ++i) {
      in_flight.push_back(send(i));
      if (a.interval > milliseconds::zero()) {
        settle_oldest();  // one at a time, acknowledged before the pause
        if (i < a.count && !failure) {
          std::this_thread::sleep_for(a.interval);
        }
      } else if (in_flight.size() >= send_window) {
        settle_oldest();
      }
    }
    if (failure) {
      producer->close();  // what is still queued fails at once with errc::closed
    }
    while (!in_flight.empty()) {
      settle_oldest();
    }
    if (a.stats) {
      print_stats(producer->stats());
    }
    if (failure) {
      report(*failure);
      fmt::print(stderr, "{} of {} message{} acknowledged\n", acknowledged, a.count, a.count == 1 ? "" : "s");
      return 1;
    }
    fmt::print(stderr, "{} message{} acknowledged on {}\n", acknowledged, acknowledged == 1 ? "" : "s", a.topic);
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------
// consume

// Writes one message to stdout (and flushes, so pipes see it at once).
danube::result<void> print_message(const danube::message& m, bool json) {
  std::string line;
  if (json) {
    line = danube_cli::json_line(danube_cli::fields_of(m));
  } else {
    line = m.payload_string();
  }
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fflush(stdout) != 0) {
    return danube::unexpected_error(danube::errc::internal, "cannot write to standard output");
  }
  return {};
}

int consume(const danube_cli::consume_args& a, const danube_cli::security_plan& plan) {
  const auto start = steady_clock::now();
  std::optional<steady_clock::time_point> deadline;
  if (a.timeout) {
    deadline = start + *a.timeout;
  }

  return with_client(a.connection, plan, a.timeout, a.stats, [&](auto& client) -> int {
    auto builder = client.template new_consumer<danube::basic_consumer<deadline_retry>>();
    builder.topic(a.topic).consumer_name(a.consumer_name).subscription(a.subscription).subscription_type(a.sub_type);
    if (!a.key_filters.empty()) {
      builder.key_filters(a.key_filters);
    }
    if (deadline) {
      builder.retry_policy(deadline_retry{.backoff = {}, .deadline = *deadline});
    }
    auto consumer = builder.build();
    if (!consumer) {
      return report(consumer.error());
    }
    if (auto ok = consumer->subscribe(); !ok) {
      return report(ok.error());
    }
    // The readiness line scripts wait for: from here on, published messages reach this consumer.
    fmt::print(stderr, "subscribed to {} (subscription '{}', {}, consumer '{}')\n", a.topic, a.subscription,
               danube_cli::to_string(a.sub_type), a.consumer_name);
    std::fflush(stderr);

    std::uint64_t received = 0;
    // --stats: the final stats however the loop ends (count reached, timeout, an error).
    struct final_stats {
      decltype(consumer)& c;
      bool enabled;
      ~final_stats() {
        if (enabled) {
          print_stats(c->stats());
        }
      }
    } print_at_end{consumer, a.stats};
    while (!a.count || received < *a.count) {
      milliseconds wait = std::chrono::hours(1);
      if (deadline) {
        const auto left = *deadline - steady_clock::now();
        if (left <= steady_clock::duration::zero()) {
          break;
        }
        wait = std::min(wait, std::chrono::ceil<milliseconds>(left));
      }
      auto m = consumer->receive(wait);
      if (!m) {
        if (m.error() == danube::errc::timeout) {
          continue;
        }
        return report(m.error());
      }
      if (auto ok = print_message(*m, a.json); !ok) {
        return report(ok.error());  // not acknowledged: a reliable topic redelivers it
      }
      if (auto ok = consumer->ack(*m); !ok) {
        return report(ok.error());
      }
      ++received;
    }
    if (a.count && received < *a.count) {
      const auto seconds = std::chrono::duration<double>(*a.timeout).count();
      return report(
          danube::error(danube::errc::timeout, fmt::format("received {} of {} message{} within {} s", received,
                                                           *a.count, *a.count == 1 ? "" : "s", seconds)));
    }
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------
// schema

// Writes `text` to stdout, flushed.
int print_out(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    return report(danube::error(danube::errc::internal, "cannot write to standard output"));
  }
  return 0;
}

std::string utc_time(std::chrono::system_clock::time_point t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", std::chrono::floor<std::chrono::seconds>(t));
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) {
      out += separator;
    }
    out += part;
  }
  return out;
}

int schema_register(const danube_cli::schema_register_args& a, const danube_cli::security_plan& plan) {
  std::optional<std::string> definition;
  if (a.file) {
    auto bytes = read_payload_file(*a.file);
    if (!bytes) {
      return report(bytes.error());
    }
    definition = std::move(*bytes);
  }
  return with_client(a.connection, plan, std::nullopt, false, [&](auto& client) -> int {
    auto builder = client.schema_registry().register_schema(a.subject);
    builder.type(a.type);
    if (definition) {
      builder.definition(std::move(*definition));
    }
    if (a.description) {
      builder.description(*a.description);
    }
    if (a.created_by) {
      builder.created_by(*a.created_by);
    }
    if (!a.tags.empty()) {
      builder.tags(a.tags);
    }
    auto registered = builder.execute();
    if (!registered) {
      return report(registered.error());
    }
    return print_out(fmt::format("subject: {}\nschema_id: {}\nversion: {}\nstatus: {}\nfingerprint: {}\n", a.subject,
                                 registered->schema_id, registered->version,
                                 registered->is_new_version ? "new" : "existing", registered->fingerprint));
  });
}

int schema_get(const danube_cli::schema_get_args& a, const danube_cli::security_plan& plan) {
  return with_client(a.connection, plan, std::nullopt, false, [&](auto& client) -> int {
    const auto registry = client.schema_registry();
    auto info = a.id ? registry.get_schema(*a.id, a.version) : registry.latest(*a.subject);
    if (!info) {
      return report(info.error());
    }
    std::string out = fmt::format(
        "subject: {}\nschema_id: {}\nversion: {}\ntype: {}\ncompatibility: {}\ndescription: {}\ncreated_by: {}\n"
        "created_at: {}\ntags: {}\nfingerprint: {}\ndefinition:\n",
        info->subject, info->schema_id, info->version, danube::to_string(info->type),
        danube::to_string(info->compatibility), info->description, info->created_by, utc_time(info->created_at),
        join(info->tags, ","), info->fingerprint);
    out += info->definition();
    if (!out.ends_with('\n')) {
      out += '\n';
    }
    return print_out(out);
  });
}

int schema_versions(const danube_cli::schema_versions_args& a, const danube_cli::security_plan& plan) {
  return with_client(a.connection, plan, std::nullopt, false, [&](auto& client) -> int {
    auto versions = client.schema_registry().versions(a.subject);
    if (!versions) {
      return report(versions.error());
    }
    std::string out;
    for (const auto& v : *versions) {
      out += fmt::format("version {} schema_id {} created_at {} created_by {} fingerprint {}", v.version, v.schema_id,
                         utc_time(v.created_at), v.created_by.empty() ? "-" : v.created_by, v.fingerprint);
      if (!v.description.empty()) {
        out += " description ";
        out += v.description;
      }
      out += '\n';
    }
    return print_out(out);
  });
}

int schema_check(const danube_cli::schema_check_args& a, const danube_cli::security_plan& plan) {
  auto definition = read_payload_file(a.file);
  if (!definition) {
    return report(definition.error());
  }
  return with_client(a.connection, plan, std::nullopt, false, [&](auto& client) -> int {
    auto checked = client.schema_registry().check_compatibility(a.subject, std::move(*definition), a.type, a.mode);
    if (!checked) {
      return report(checked.error());
    }
    if (checked->compatible) {
      return print_out("compatible\n");
    }
    std::string out = "not compatible\n";
    for (const auto& reason : checked->errors) {
      out += "  ";
      out += reason;
      out += '\n';
    }
    print_out(out);
    return 1;
  });
}

int run(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  auto parsed = danube_cli::parse_command_line(args);
  if (!parsed) {
    fmt::print(stderr, "danube-cpp-cli: {}\n{}", parsed.error().message, danube_cli::usage(parsed.error().topic));
    return 2;
  }
  if (const auto* help = std::get_if<danube_cli::help_request>(&*parsed)) {
    fmt::print("{}", danube_cli::usage(help->topic));
    return 0;
  }
  // A flag combination the client cannot be built from (a token over http://, ...) is bad usage.
  const auto plan_for = [](const danube_cli::connection_args& c) {
    auto plan = danube_cli::plan_security(c);
    if (!plan) {
      fmt::print(stderr, "error: {}\n", plan.error());
    }
    return plan;
  };
  if (const auto* p = std::get_if<danube_cli::produce_args>(&*parsed)) {
    const auto plan = plan_for(p->connection);
    return plan ? produce(*p, *plan) : 2;
  }
  if (const auto* c = std::get_if<danube_cli::consume_args>(&*parsed)) {
    const auto plan = plan_for(c->connection);
    return plan ? consume(*c, *plan) : 2;
  }
  if (const auto* r = std::get_if<danube_cli::schema_register_args>(&*parsed)) {
    const auto plan = plan_for(r->connection);
    return plan ? schema_register(*r, *plan) : 2;
  }
  if (const auto* g = std::get_if<danube_cli::schema_get_args>(&*parsed)) {
    const auto plan = plan_for(g->connection);
    return plan ? schema_get(*g, *plan) : 2;
  }
  if (const auto* v = std::get_if<danube_cli::schema_versions_args>(&*parsed)) {
    const auto plan = plan_for(v->connection);
    return plan ? schema_versions(*v, *plan) : 2;
  }
  const auto& k = std::get<danube_cli::schema_check_args>(*parsed);
  const auto plan = plan_for(k.connection);
  return plan ? schema_check(k, *plan) : 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: internal: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "error: internal: unexpected failure\n");
  }
  return 1;
}
