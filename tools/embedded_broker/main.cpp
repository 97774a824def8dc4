// danube-embedded-broker: the embedded test broker as a standalone program, for trying clients
// (ours, danube-cpp-cli, or another language's) against it without a real Danube deployment.
//
//   danube-embedded-broker [--listen HOST:PORT] [--brokers N] [--consumer-buffer N]
//                          [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]
//                          [--jwt-secret SECRET [--api-key KEY]...] [--namespace NS]...
//
// Prints "listening on URL" per broker once ready (and "token JWT" with --jwt-secret) and runs
// until SIGINT or SIGTERM. See docs/embedded-broker.md.
#include <danube/testing/embedded_broker.hpp>
#include <danube/testing/embedded_cluster.hpp>
#include <danube/topic_name.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

namespace {

constexpr std::string_view usage_text =
    "usage: danube-embedded-broker [--listen HOST:PORT] [--brokers N] [--consumer-buffer N]\n"
    "                              [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]\n"
    "                              [--jwt-secret SECRET [--api-key KEY]...] [--namespace NS]...\n"
    "  --listen HOST:PORT     address to listen on (default 127.0.0.1:6650, or 127.0.0.1:0 with\n"
    "                         --brokers N > 1; port 0 picks a free port)\n"
    "  --brokers N            run a local cluster of N brokers (topic ownership, redirects; default 1);\n"
    "                         with N > 1 the port must be 0: each broker picks a free one\n"
    "  --consumer-buffer N    messages buffered per non-reliable consumer before dropping (default 1000;\n"
    "                         the real broker drops beyond 8)\n"
    "  --tls-cert PEM         serve TLS (https://) with this certificate chain file; needs --tls-key\n"
    "  --tls-key PEM          the private key file of --tls-cert\n"
    "  --tls-client-ca PEM    require client certificates signed by this CA file (mutual TLS)\n"
    "  --jwt-secret SECRET    require a JWT signed with this HS256 secret on every call (auth.mode: tls)\n"
    "                         and print a token valid for 1 h as 'token JWT'\n"
    "  --api-key KEY          an api key the legacy AuthService exchanges for a token (repeatable;\n"
    "                         needs --jwt-secret)\n"
    "  --namespace NS         a namespace that exists besides default and system (repeatable): topics\n"
    "                         are created only in existing namespaces, as on the real broker\n";

struct tls_files {
  std::string certificate;
  std::string key;
  std::string client_ca;
};

struct arguments {
  danube::testing::broker_options options;
  std::size_t brokers = 1;
  tls_files tls;
  bool help = false;
};

std::optional<std::size_t> parse_count(std::string_view text) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// The port of HOST:PORT or [IPv6]:PORT, if it is a number.
std::optional<std::size_t> listen_port(std::string_view address) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  return parse_count(address.substr(colon + 1));
}

// A usage error: the reason on stderr; the caller prints the usage.
std::nullopt_t usage_error(std::string_view reason) {
  fmt::print(stderr, "danube-embedded-broker: {}\n", reason);
  return std::nullopt;
}

// Accepts "--name value" and "--name=value". Every flag but --api-key and --namespace may be given
// once.
std::optional<arguments> parse_arguments(int argc, char** argv) {
  static constexpr std::string_view known[] = {"--listen",     "--brokers", "--consumer-buffer",
                                               "--tls-cert",   "--tls-key", "--tls-client-ca",
                                               "--jwt-secret", "--api-key", "--namespace"};
  arguments parsed;
  std::optional<std::string> listen;
  std::set<std::string_view> seen;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (std::find(std::begin(known), std::end(known), name) == std::end(known)) {
      return usage_error(fmt::format("unknown argument '{}'", arg));
    }
    if (!value) {
      if (i + 1 >= argc) {
        return usage_error(fmt::format("{} needs a value", name));
      }
      value = argv[++i];
    }
    if (name != "--api-key" && name != "--namespace" && !seen.insert(name).second) {
      return usage_error(fmt::format("{} is given twice", name));
    }
    if (name == "--listen") {
      listen = std::string(*value);
    } else if (name == "--brokers" || name == "--consumer-buffer") {
      const auto count = parse_count(*value);
      if (!count || *count == 0) {
        return usage_error(fmt::format("{} needs a positive number, not '{}'", name, *value));
      }
      (name == "--brokers" ? parsed.brokers : parsed.options.consumer_buffer) = *count;
    } else if (name == "--tls-cert") {
      parsed.tls.certificate = std::string(*value);
    } else if (name == "--tls-key") {
      parsed.tls.key = std::string(*value);
    } else if (name == "--tls-client-ca") {
      parsed.tls.client_ca = std::string(*value);
    } else if (name == "--jwt-secret") {
      if (value->empty()) {
        return usage_error("--jwt-secret needs a non-empty secret");
      }
      parsed.options.auth.jwt_secret = std::string(*value);
      parsed.options.auth.require_token = true;
    } else if (name == "--namespace") {
      // A namespace is a topic name's middle part: the broker's characters, not empty.
      if (value->empty() || !danube::validate_topic_name(fmt::format("/{}/t", *value))) {
        return usage_error(fmt::format("--namespace needs a namespace name, not '{}'", *value));
      }
      parsed.options.namespaces.emplace_back(*value);
    } else {  // --api-key
      parsed.options.auth.api_keys.emplace_back(*value);
    }
  }
  if (parsed.help) {
    return parsed;
  }

  if (parsed.tls.certificate.empty() != parsed.tls.key.empty()) {
    return usage_error("--tls-cert and --tls-key go together");
  }
  if (!parsed.tls.client_ca.empty() && parsed.tls.certificate.empty()) {
    return usage_error("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (!parsed.options.auth.api_keys.empty() && parsed.options.auth.jwt_secret.empty()) {
    return usage_error("--api-key needs --jwt-secret (the exchanged tokens are signed with it)");
  }
  if (listen) {
    if (parsed.brokers > 1 && listen_port(*listen) != std::size_t{0}) {
      return usage_error(
          fmt::format("--brokers {} needs a --listen port of 0 (each broker picks a free port), not '{}'",
                      parsed.brokers, *listen));
    }
    parsed.options.listen_address = std::move(*listen);
  } else {
    parsed.options.listen_address = parsed.brokers > 1 ? "127.0.0.1:0" : "127.0.0.1:6650";
  }
  return parsed;
}

// The whole content of the file `path` given to `flag`, or an error naming both.
danube::result<std::string> read_pem_file(std::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int code = errno;
    return danube::unexpected_error(danube::errc::invalid_argument,
                                    fmt::format("cannot read {} file '{}': {}", flag, path,
                                                std::generic_category().message(code != 0 ? code : ENOENT)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return danube::unexpected_error(danube::errc::invalid_argument,
                                    fmt::format("cannot read {} file '{}'", flag, path));
  }
  return std::move(content).str();
}

// Loads the TLS files into the options (PEM text, as broker_options takes it).
danube::result<void> load_tls(const tls_files& files, danube::testing::broker_options& options) {
  if (files.certificate.empty()) {
    return {};
  }
  danube::testing::broker_tls tls;
  auto certificate = read_pem_file("--tls-cert", files.certificate);
  if (!certificate) {
    return std::unexpected(std::move(certificate).error());
  }
  auto key = read_pem_file("--tls-key", files.key);
  if (!key) {
    return std::unexpected(std::move(key).error());
  }
  tls.certificate_chain = std::move(*certificate);
  tls.private_key = std::move(*key);
  if (!files.client_ca.empty()) {
    auto client_ca = read_pem_file("--tls-client-ca", files.client_ca);
    if (!client_ca) {
      return std::unexpected(std::move(client_ca).error());
    }
    tls.client_ca = std::move(*client_ca);
  }
  options.tls = std::move(tls);
  return {};
}

// The broker names the broker_options field a bad PEM came from ("TLS certificate
// 'broker_options.tls.certificate_chain': ..."); the user gave a file: name it instead.
std::string with_file_names(std::string message, const tls_files& files) {
  const std::pair<std::string_view, const std::string&> fields[] = {
      {"broker_options.tls.certificate_chain", files.certificate},
      {"broker_options.tls.private_key", files.key},
      {"broker_options.tls.client_ca", files.client_ca},
  };
  for (const auto& [field, path] : fields) {
    for (auto at = message.find(field); at != std::string::npos; at = message.find(field, at + path.size())) {
      message.replace(at, field.size(), path);
    }
  }
  return message;
}

// One broker, or a cluster of them.
using running = std::variant<danube::testing::embedded_broker, danube::testing::embedded_cluster>;

danube::result<running> start(const arguments& args) {
  if (args.brokers == 1) {
    auto broker = danube::testing::embedded_broker::start(args.options);
    if (!broker) {
      return std::unexpected(std::move(broker).error());
    }
    return running(std::in_place_index<0>, std::move(*broker));
  }
  auto cluster = danube::testing::embedded_cluster::start(args.brokers, args.options);
  if (!cluster) {
    return std::unexpected(std::move(cluster).error());
  }
  return running(std::in_place_index<1>, std::move(*cluster));
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_arguments(argc, argv);
  if (!parsed) {
    fmt::print(stderr, "{}", usage_text);
    return 2;
  }
  if (parsed->help) {
    fmt::print("{}", usage_text);
    return 0;
  }
  if (auto loaded = load_tls(parsed->tls, parsed->options); !loaded) {
    fmt::print(stderr, "error: {}\n", loaded.error());
    return 1;
  }

  // Blocked before any thread exists, so every gRPC thread inherits the mask and the signals are
  // only ever taken by sigwait below: nothing runs in a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (const int rc = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); rc != 0) {
    fmt::print(stderr, "error: internal: cannot block signals: {}\n", std::generic_category().message(rc));
    return 1;
  }

  auto brokers = start(*parsed);
  if (!brokers) {
    fmt::print(stderr, "error: {}: {}\n", danube::to_string(brokers.error().code()),
               with_file_names(brokers.error().message(), parsed->tls));
    return 1;
  }
  auto& first = brokers->index() == 0 ? std::get<0>(*brokers) : std::get<1>(*brokers).broker(0);
  if (brokers->index() == 0) {
    fmt::print("listening on {}\n", first.url());
  } else {
    const auto& cluster = std::get<1>(*brokers);
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      fmt::print("listening on {}\n", cluster.url(i));
    }
  }
  if (parsed->options.auth.require_token) {
    // Every broker of a cluster shares the secret, so this token is good on all of them.
    auto token = first.issue_token("danube-embedded-broker", std::chrono::hours(1));
    if (!token) {
      fmt::print(stderr, "error: {}\n", token.error());
      return 1;
    }
    fmt::print("token {}\n", *token);
  }
  std::fflush(stdout);

  int received = 0;
  const int rc = sigwait(&stop_signals, &received);
  std::visit([](auto& running_brokers) { running_brokers.stop(); }, *brokers);
  if (rc != 0) {
    fmt::print(stderr, "error: internal: cannot wait for signals: {}\n", std::generic_category().message(rc));
    return 1;
  }
  return 0;
}
