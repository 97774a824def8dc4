// danube_soak: a seeded chaos soak of the client against an embedded cluster (docs/reliability.md,
// "Chaos soak"). Brokers restart, stop, answer CLOSE and fail, delay or hang single RPCs; topics
// move; clients, producers and consumers are created and closed concurrently, from other threads
// and from inside callbacks; producers of every form and consumers of every subscription type
// keep working meanwhile. At the end it checks that every send completed exactly once, every
// acknowledged reliable message arrived at every subscription in order (minus what the test broker
// provably lost), no call overran its bound, and nothing leaked once everything was closed.
//
//   danube_soak [--seed N] [--duration SECONDS] [--exclude a,b] [--only a,b] [--verbose] ...
//   danube_soak --self-test all     every checker fires on a deliberate fault (exit 0 when all did)
//   danube_soak --self-test hang    a call that never returns ends the process (exit 3)
//
// Exit: 0 no violation, 1 violations, 2 usage or setup error, 3 hang.
#include "soak/chaos.hpp"
#include "soak/churn.hpp"
#include "soak/context.hpp"
#include "soak/ledger.hpp"
#include "soak/report.hpp"
#include "soak/watchdog.hpp"
#include "soak/workload.hpp"
#include <danube/danube.hpp>
#include <danube/testing/embedded_cluster.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

namespace {

using namespace soak;

#if defined(__SANITIZE_ADDRESS__)
constexpr double sanitizer_slack = 3;
constexpr bool rss_meaningful = false;  // ASan's quarantine holds freed memory; LeakSanitizer checks leaks
constexpr std::string_view build_kind = "ASan";
#elif defined(__SANITIZE_THREAD__)
constexpr double sanitizer_slack = 6;
constexpr bool rss_meaningful = false;  // TSan's shadow memory
constexpr std::string_view build_kind = "TSan";
#else
constexpr double sanitizer_slack = 1;
constexpr bool rss_meaningful = true;
constexpr std::string_view build_kind = "plain";
#endif

constexpr std::string_view usage = R"(usage: danube_soak [options]
  --seed N             the run's seed (default: random; also DANUBE_SOAK_SEED)
  --duration S         seconds of chaos (default 30); a quiet phase and a drain follow
  --brokers N          brokers in the embedded cluster (default 3)
  --rate R             messages per second per lane (default 50)
  --settle S           quiet phase: no faults, producers still sending (default 8)
  --grace S            of the quiet phase, time to recover; later sends must all arrive (default 5)
  --drain S            the most to wait for the last reliable messages (default 45: a lost ack
                       is redelivered after the broker's 30 s ack timeout)
  --hang S             a call this long past its bound is a hang: report, dump, exit 3 (default 60)
  --slack F            multiply every deadline by F (sanitizer builds multiply by 3 or 6 already)
  --exclude a,b        leave faults or actions out; --only a,b keeps just these
                       broker side: restart stop close move fail delay hang lookup-failed
                       client side: client-churn outside-close producer-churn consumer-churn
                                    flush ephemeral close-race nack reentrant
  --thread-slack N     threads named like the process (ours, the library's) allowed above the
                       start after closing everything (default 2)
  --grpc-thread-slack N  gRPC's own threads likewise (its pools grow with load; default 8 + 4 per core)
  --fd-slack N         file descriptors likewise (default 8)
  --rss-slack MIB      resident memory likewise, beyond the soak's own records (default 128)
  --verbose            print every fault and lifecycle event as it happens
  --self-test all|hang prove the checkers fire on deliberate faults
)";

template <class T>
bool parse_number(std::string_view text, T& out) {
  if constexpr (std::is_floating_point_v<T>) {
    char* end = nullptr;
    const std::string copy(text);
    out = static_cast<T>(std::strtod(copy.c_str(), &end));
    return end != copy.c_str() && *end == '\0' && out >= 0;
  } else {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
  }
}

std::vector<std::string> split(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    out.emplace_back(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return out;
}

bool known_action(std::string_view name) {
  for (const auto a : all_actions) {
    if (a == name) {
      return true;
    }
  }
  return false;
}

// Parses argv into `o` and the reproduction command's options; false on a usage error.
bool parse(int argc, char** argv, options& o, std::string& reproduce) {
  bool seeded = false;
  std::vector<std::string> kept;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) {
        return std::nullopt;
      }
      return std::string_view(argv[++i]);
    };
    const auto number = [&](auto& out) {
      const auto v = value();
      if (!v || !parse_number(*v, out)) {
        std::fprintf(stderr, "danube_soak: %s needs a number\n", std::string(arg).c_str());
        return false;
      }
      if (arg != "--seed") {
        kept.push_back(fmt::format("{} {}", arg, *v));
      }
      return true;
    };
    bool ok = true;
    if (arg == "--seed") {
      ok = number(o.seed);
      seeded = true;
    } else if (arg == "--duration") {
      ok = number(o.duration_s);
    } else if (arg == "--brokers") {
      ok = number(o.brokers) && o.brokers >= 1;
    } else if (arg == "--rate") {
      ok = number(o.rate) && o.rate > 0;
    } else if (arg == "--settle") {
      ok = number(o.settle_s);
    } else if (arg == "--grace") {
      ok = number(o.grace_s);
    } else if (arg == "--drain") {
      ok = number(o.drain_s);
    } else if (arg == "--hang") {
      ok = number(o.hang_s);
    } else if (arg == "--slack") {
      ok = number(o.slack) && o.slack > 0;
    } else if (arg == "--thread-slack") {
      ok = number(o.thread_slack);
    } else if (arg == "--grpc-thread-slack") {
      ok = number(o.grpc_thread_slack);
    } else if (arg == "--fd-slack") {
      ok = number(o.fd_slack);
    } else if (arg == "--rss-slack") {
      ok = number(o.rss_slack_mib);
    } else if (arg == "--verbose") {
      o.verbose = true;
    } else if (arg == "--exclude" || arg == "--only") {
      const auto v = value();
      if (!v) {
        ok = false;
      } else {
        kept.push_back(fmt::format("{} {}", arg, *v));
        const auto names = split(*v);
        for (const auto& n : names) {
          if (!known_action(n)) {
            std::fprintf(stderr, "danube_soak: unknown fault or action '%s'\n", n.c_str());
            return false;
          }
        }
        if (arg == "--exclude") {
          o.excluded.insert(names.begin(), names.end());
        } else {
          for (const auto a : all_actions) {
            if (std::find(names.begin(), names.end(), a) == names.end()) {
              o.excluded.emplace(a);
            }
          }
        }
      }
    } else if (arg == "--self-test") {
      const auto v = value();
      ok = v && (*v == "all" || *v == "hang");
      if (ok) {
        o.self_test = std::string(*v);
      }
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(usage.data(), stdout);
      std::exit(0);
    } else {
      std::fprintf(stderr, "danube_soak: unknown argument '%s'\n", std::string(arg).c_str());
      ok = false;
    }
    if (!ok) {
      std::fputs(usage.data(), stderr);
      return false;
    }
  }
  if (!seeded) {
    if (const char* env = std::getenv("DANUBE_SOAK_SEED"); env != nullptr && *env != '\0') {
      if (!parse_number(std::string_view(env), o.seed)) {
        std::fprintf(stderr, "danube_soak: DANUBE_SOAK_SEED is not a number\n");
        return false;
      }
    } else {
      std::random_device device;
      o.seed = (std::uint64_t{device()} << 32U) ^ device() ^
               static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
      o.seed %= 1'000'000'000'000ULL;  // short enough to type
    }
  }
  reproduce = fmt::format("{} --seed {}", argv[0], o.seed);
  for (const auto& k : kept) {
    reproduce += " " + k;
  }
  return true;
}

// ------------------------------------------------------------------------------------------------
// The topology: four topics (reliable and not, plain and partitioned), eight lanes, and consumers
// of every subscription type on each.

struct topic_spec {
  std::string name;
  bool reliable;
  std::uint32_t partitions;
  std::size_t creator_broker;
};

struct topology {
  std::vector<topic_spec> topics;
  std::vector<lane_config> lanes;
  std::vector<consumer_config> consumers;
  std::vector<lane_spec> lane_specs;
  std::vector<sub_spec> sub_specs;
};

topology make_topology(std::size_t brokers) {
  topology t;
  t.topics = {
      {"/default/soak-r1", true, 0, 0},
      {"/default/soak-r3", true, 3, 1 % brokers},
      {"/default/soak-n1", false, 0, 2 % brokers},
      {"/default/soak-n2", false, 2, 0},
  };
  const auto& r1 = t.topics[0];
  const auto& r3 = t.topics[1];
  const auto& n1 = t.topics[2];
  const auto& n2 = t.topics[3];
  const auto add_lane = [&](std::size_t client, const topic_spec& topic, send_form form, std::size_t window, bool keyed,
                            std::size_t in_flight = 1, std::size_t max_pending = 1000,
                            danube::queue_full_policy when_full = danube::queue_full_policy::block) {
    lane_config c{.id = t.lanes.size(),
                  .client = client,
                  .topic = topic.name,
                  .partitions = topic.partitions,
                  .reliable = topic.reliable,
                  .keyed = keyed,
                  .form = form,
                  .window = window,
                  .max_in_flight = in_flight,
                  .max_pending = max_pending,
                  .when_full = when_full};
    lane_spec s{.name = fmt::format("L{}", c.id),
                .partitions = {},
                .reliable = topic.reliable,
                .ordered = in_flight == 1,
                .keyed = keyed};
    if (topic.partitions == 0) {
      s.partitions.push_back(topic.name);
    } else {
      for (std::uint32_t p = 0; p < topic.partitions; ++p) {
        s.partitions.push_back(danube::partition_topic_name(topic.name, p));
      }
    }
    t.lanes.push_back(std::move(c));
    t.lane_specs.push_back(std::move(s));
  };
  add_lane(0, r1, send_form::sync, 1, false);
  add_lane(1, r1, send_form::future, 8, false);
  add_lane(2, r1, send_form::callback, 16, true);
  add_lane(0, r3, send_form::callback, 16, false);
  add_lane(1, r3, send_form::sync, 1, true);
  add_lane(2, n1, send_form::sync, 1, true);
  // Pipelined (order not promised), and its queue (8) smaller than its window (32): sends wait
  // for room inside send_async.
  add_lane(0, n1, send_form::callback, 32, false, 4, 8, danube::queue_full_policy::block);
  // A queue of 4 under a window of 8 that fails when full: errc::queue_full, at once.
  add_lane(1, n2, send_form::future, 8, false, 1, 4, danube::queue_full_policy::fail);

  const auto add_sub = [&](const topic_spec& topic, std::string name, sub_type type) {
    sub_spec s{.name = fmt::format("{}:{}", topic.name, name),
               .subscription = name,
               .type = type,
               .reliable = topic.reliable,
               .lanes = {}};
    for (const auto& l : t.lanes) {
      if (l.topic == topic.name) {
        s.lanes.push_back(l.id);
      }
    }
    t.sub_specs.push_back(std::move(s));
    return t.sub_specs.size() - 1;
  };
  const auto add_consumer = [&](std::size_t client, const topic_spec& topic, std::size_t sub_index, receive_form rf,
                                ack_form af, std::size_t capacity = 1000, double nack = 0) {
    const auto& s = t.sub_specs[sub_index];
    const auto type = s.type == sub_type::exclusive  ? danube::subscription_type::exclusive
                      : s.type == sub_type::shared   ? danube::subscription_type::shared
                      : s.type == sub_type::failover ? danube::subscription_type::failover
                                                     : danube::subscription_type::key_shared;
    t.consumers.push_back(consumer_config{.id = t.consumers.size(),
                                          .sub = sub_index,
                                          .client = client,
                                          .topic = topic.name,
                                          .subscription = s.subscription,
                                          .name = fmt::format("c{}", t.consumers.size()),
                                          .type = type,
                                          .reliable = topic.reliable,
                                          .receive = rf,
                                          .ack = af,
                                          .queue_capacity = capacity,
                                          .nack_rate = nack});
  };
  for (const auto* topic : {&r1, &r3, &n1, &n2}) {
    const bool plain = topic->partitions == 0;
    const auto ex = add_sub(*topic, "ex", sub_type::exclusive);
    add_consumer(0, *topic, ex, receive_form::receive, ack_form::sync);
    const auto sh = add_sub(*topic, "sh", sub_type::shared);
    add_consumer(1, *topic, sh, receive_form::try_receive, ack_form::sync, 1000, 0.03);
    add_consumer(2, *topic, sh, receive_form::listener, ack_form::callback, 1000, 0.03);
    const auto ks = add_sub(*topic, "ks", sub_type::key_shared);
    add_consumer(0, *topic, ks, receive_form::receive, ack_form::future);
    add_consumer(1, *topic, ks, receive_form::receive, ack_form::sync, 4);  // a tiny queue: back-pressure
    if (plain || topic == &n2) {
      const auto fo = add_sub(*topic, "fo", sub_type::failover);
      add_consumer(2, *topic, fo, receive_form::receive, ack_form::future);
      add_consumer(0, *topic, fo, receive_form::listener, ack_form::callback);
    }
  }
  return t;
}

// ------------------------------------------------------------------------------------------------

int self_test_hang(const options& o, const std::string& reproduce) {
  report findings(clock::now());
  watchdog dog(findings, {.hang_limit = std::chrono::milliseconds(1000), .reproduce = reproduce, .seed = o.seed});
  std::printf("soak: self-test hang: a call bounded at 200 ms that never returns\n");
  std::fflush(stdout);
  (void)dog.call("self-test.hang (a call that never returns)", 200ms, [] {
    for (;;) {
      std::this_thread::sleep_for(1s);
    }
  });
  return 0;  // not reached: the watchdog ends the process
}

struct leaks {
  std::vector<std::thread> threads;
  std::vector<int> fds;
  std::vector<char> memory;
};

// Self-test: what the end-of-run checks must notice.
void leak_on_purpose(const options& o, leaks& l, bool rss) {
  static std::atomic<bool> release{false};
  for (std::size_t i = 0; i <= o.thread_slack; ++i) {
    l.threads.emplace_back([] {
      while (!release.load()) {
        std::this_thread::sleep_for(10ms);
      }
    });
  }
  for (std::size_t i = 0; i <= o.fd_slack; ++i) {
    l.fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
  if (rss) {
    l.memory.assign((o.rss_slack_mib + 64) * 1024 * 1024, 'x');
  }
  std::atexit([] { release = true; });
}

void release_leaks(leaks& l) {
  for (auto& t : l.threads) {
    t.detach();
  }
  for (const int fd : l.fds) {
    ::close(fd);
  }
  l.memory = {};
}

int run(options o, const std::string& reproduce) {
  const bool self_test = o.self_test == "all";
  if (self_test) {
    // No faults and no churn: nothing is excused, every deliberate fault must show.
    for (const auto a : all_actions) {
      o.excluded.emplace(a);
    }
    o.duration_s = std::min(o.duration_s, 4.0);
    o.settle_s = 2;
    o.grace_s = 0;
    o.drain_s = 2;  // one message is missing on purpose
  }
  o.slack *= sanitizer_slack;
  o.rss_check = rss_meaningful;

  report findings(clock::now());
  findings.set_verbose(o.verbose);
  watchdog dog(findings, {.hang_limit = std::chrono::milliseconds(static_cast<std::int64_t>(o.hang_s * 1000)),
                          .reproduce = reproduce,
                          .seed = o.seed});
  // The whole run is bounded too.
  const auto run_bound = std::chrono::milliseconds(
      static_cast<std::int64_t>((o.duration_s + o.settle_s + o.drain_s + 120) * 1000 * o.slack));
  const auto run_token = dog.begin("the whole run", run_bound);

  auto topo = make_topology(o.brokers);
  ledger book(findings, topo.lane_specs, topo.sub_specs);
  sabotage saboteur;
  saboteur.on = self_test;
  context ctx{
      .opts = o, .lim = limits{.slack = o.slack}, .findings = findings, .dog = dog, .book = book, .saboteur = saboteur};

  std::printf(
      "soak: %s build, %zu brokers, %zu lanes, %zu consumers on %zu subscriptions, chaos %.0f s, quiet %.0f s\n",
      std::string(build_kind).c_str(), o.brokers, topo.lanes.size(), topo.consumers.size(), topo.sub_specs.size(),
      o.duration_s, o.settle_s);
  if (!o.excluded.empty()) {
    std::string list;
    for (const auto& e : o.excluded) {
      list += (list.empty() ? "" : ",") + e;
    }
    std::printf("soak: excluded: %s\n", list.c_str());
  }
  std::fflush(stdout);

  danube::testing::broker_options broker_options;
  broker_options.consumer_buffer = 2000;
  auto started = danube::testing::embedded_cluster::start(o.brokers, broker_options);
  if (!started) {
    std::fprintf(stderr, "soak: the embedded cluster did not start: %s\n", started.error().message().c_str());
    return 2;
  }
  auto& cluster = *started;
  std::vector<std::string> urls;
  for (std::size_t i = 0; i < o.brokers; ++i) {
    urls.push_back(cluster.url(i));
  }

  // Topics, created through different brokers so that ownership is spread; this also warms up
  // gRPC's process-wide threads before the baseline is taken.
  std::vector<std::string> partitions;
  for (const auto& topic : topo.topics) {
    client_slot creator(ctx, 99, urls[topic.creator_broker]);
    auto client = creator.get();
    auto b = client->new_producer<producer_t>();
    b.topic(topic.name)
        .name("creator")
        .dispatch(topic.reliable ? danube::dispatch_strategy::reliable : danube::dispatch_strategy::non_reliable);
    if (topic.partitions > 0) {
      b.partitions(topic.partitions);
    }
    auto p = b.build();
    if (!p || !p->create()) {
      std::fprintf(stderr, "soak: could not create %s\n", topic.name.c_str());
      return 2;
    }
    p->close();
    creator.churn();
    if (topic.partitions == 0) {
      partitions.push_back(topic.name);
    } else {
      for (std::uint32_t i = 0; i < topic.partitions; ++i) {
        partitions.push_back(danube::partition_topic_name(topic.name, i));
      }
    }
  }
  std::this_thread::sleep_for(500ms);
  const auto baseline = sample_proc();
  const auto baseline_threads = thread_names();

  std::vector<std::unique_ptr<client_slot>> clients;
  for (std::size_t i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<client_slot>(ctx, i, urls[i % urls.size()]));
  }
  std::vector<std::unique_ptr<consumer_slot>> consumers;
  for (const auto& c : topo.consumers) {
    consumers.push_back(std::make_unique<consumer_slot>(ctx, *clients[c.client], c));
    if (!consumers.back()->subscribe_now()) {
      std::fprintf(stderr, "soak: consumer %s could not subscribe before the run\n", c.name.c_str());
      return 2;
    }
  }
  std::vector<std::unique_ptr<lane>> lanes;
  for (const auto& l : topo.lanes) {
    lanes.push_back(std::make_unique<lane>(ctx, *clients[l.client], l));
  }
  chaos broker_chaos(ctx, cluster, partitions);
  churner object_churn(ctx, clients, lanes, consumers);
  ephemeral short_lived(ctx, urls, {"/default/soak-n1", "/default/soak-eph"},
                        {"/default/soak-r1", "/default/soak-n1", "/default/soak-eph"});

  for (auto& c : consumers) {
    c->start();
  }
  for (auto& l : lanes) {
    l->start();
  }
  if (o.enabled("client-churn") || o.enabled("outside-close") || o.enabled("flush")) {
    object_churn.start();
  }
  if (o.enabled("ephemeral") || o.enabled("close-race")) {
    short_lived.start();
  }
  broker_chaos.start();

  // The chaos phase.
  std::size_t peak_threads = baseline.threads;
  std::size_t peak_fds = baseline.fds;
  std::size_t peak_rss = baseline.rss_kib;
  const auto seconds = [](double s) {
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s));
  };
  const auto chaos_until = clock::now() + seconds(o.duration_s);
  auto next_progress = clock::now() + 30s;
  while (clock::now() < chaos_until) {
    std::this_thread::sleep_for(std::min<clock::duration>(250ms, chaos_until - clock::now()));
    const auto s = sample_proc();
    peak_threads = std::max(peak_threads, s.threads);
    peak_fds = std::max(peak_fds, s.fds);
    peak_rss = std::max(peak_rss, s.rss_kib);
    if (clock::now() >= next_progress) {
      next_progress += 30s;
      const auto t = book.summarize();
      std::printf(
          "soak: t=%.0f s: %llu sends (%llu ok), %llu arrivals, %zu violations, threads %zu, fds %zu, rss %zu MiB\n",
          findings.seconds_since_start(), static_cast<unsigned long long>(t.sends),
          static_cast<unsigned long long>(t.ok), static_cast<unsigned long long>(t.arrivals),
          findings.total_violations(), s.threads, s.fds, s.rss_kib / 1024);
      std::fflush(stdout);
    }
  }

  // The quiet phase: faults undone, churn stopped, producers still sending.
  findings.event("quiet phase");
  ctx.stop_chaos = true;
  broker_chaos.join();
  broker_chaos.calm();
  ctx.stop_churn = true;
  object_churn.join();
  short_lived.join();
  const auto quiet_at = findings.millis_since_start();
  book.set_strict_after(quiet_at + static_cast<millis>(o.grace_s * 1000));
  std::this_thread::sleep_for(seconds(o.settle_s));

  // Producers finish (flush, close), then the last reliable messages drain.
  ctx.stop_lanes = true;
  for (auto& l : lanes) {
    l->join();
  }
  findings.event("lanes stopped");
  const auto drain_until = clock::now() + seconds(o.drain_s * o.slack);
  auto waiting = book.check_delivery(false);
  while (waiting.missing > 0 && clock::now() < drain_until) {
    std::this_thread::sleep_for(250ms);
    waiting = book.check_delivery(false);
  }
  ctx.stop_consumers = true;
  for (auto& c : consumers) {
    c->join();
  }
  for (auto& c : clients) {
    c->churn();
  }
  consumers.clear();
  lanes.clear();
  clients.clear();
  findings.event("everything closed");

  // Self-test: the fakes the watchdog must catch.
  leaks leaked;
  if (self_test) {
    (void)dog.call("self-test.slow-call", 100ms, [] { std::this_thread::sleep_for(300ms); });
    (void)dog.call("self-test.throwing-call", 1s, []() -> int { throw std::runtime_error("deliberate"); });
    leak_on_purpose(o, leaked, o.rss_check);
  }

  // Invariants.
  book.check_delivery(true);
  const auto delivery = book.check_delivery(false);
  book.check_final();
  short_lived.check();
  const auto totals = book.summarize();
  const auto ledger_kib = totals.bytes / 1024;
  bool settled = false;
  proc_sample end;
  // gRPC closes connections and ends idle pool threads asynchronously: give them a moment.
  for (int i = 0; i < (self_test ? 10 : 100) && !settled; ++i) {
    end = sample_proc();
    settled = end.own_threads <= baseline.own_threads + o.thread_slack &&
              end.threads - end.own_threads <= baseline.threads - baseline.own_threads + o.grpc_thread_slack &&
              end.fds <= baseline.fds + o.fd_slack;
    if (!settled) {
      std::this_thread::sleep_for(100ms);
    }
  }
  if (end.own_threads > baseline.own_threads + o.thread_slack ||
      end.threads - end.own_threads > baseline.threads - baseline.own_threads + o.grpc_thread_slack) {
    findings.add(violation::thread_growth,
                 fmt::format("{} threads after closing everything ({} ours or the library's), {} before the run ({}); "
                             "slack {} and {} for gRPC's; before: {}; after: {}",
                             end.threads, end.own_threads, baseline.threads, baseline.own_threads, o.thread_slack,
                             o.grpc_thread_slack, baseline_threads, thread_names()));
  }
  if (end.fds > baseline.fds + o.fd_slack) {
    findings.add(violation::fd_growth, fmt::format("{} file descriptors after closing everything, {} before (slack {})",
                                                   end.fds, baseline.fds, o.fd_slack));
  }
  if (o.rss_check && end.rss_kib > baseline.rss_kib + ledger_kib + o.rss_slack_mib * 1024) {
    findings.add(violation::rss_growth,
                 fmt::format("{} MiB resident after closing everything, {} MiB before; the soak's records take {} MiB "
                             "(slack {} MiB)",
                             end.rss_kib / 1024, baseline.rss_kib / 1024, ledger_kib / 1024, o.rss_slack_mib));
  }
  release_leaks(leaked);
  dog.end(run_token);

  // Figures.
  const auto counters = findings.counters();
  const auto get = [&](const std::string& k) {
    const auto it = counters.find(k);
    return it == counters.end() ? std::uint64_t{0} : it->second;
  };
  std::printf("soak: figures (seed %llu)\n", static_cast<unsigned long long>(o.seed));
  std::printf("  time: %.1f s in all (chaos %.0f s, quiet %.0f s, drain and close after)\n",
              findings.seconds_since_start(), o.duration_s, o.settle_s);
  std::string failures;
  for (const auto& [code, n] : totals.failures_by_code) {
    failures +=
        fmt::format("{}{} {}", failures.empty() ? "" : ", ", danube::to_string(static_cast<danube::errc>(code)), n);
  }
  std::printf("  sends: %llu by the lanes (%llu acknowledged, %llu failed%s%s), %llu short-lived\n",
              static_cast<unsigned long long>(totals.sends), static_cast<unsigned long long>(totals.ok),
              static_cast<unsigned long long>(totals.failed), failures.empty() ? "" : ": ", failures.c_str(),
              static_cast<unsigned long long>(get("short-lived sends")));
  std::printf("  receives: %llu messages (%llu first arrivals of lane messages), %llu acks, %llu nacks\n",
              static_cast<unsigned long long>(totals.arrivals), static_cast<unsigned long long>(totals.first_arrivals),
              static_cast<unsigned long long>(get("acks")), static_cast<unsigned long long>(get("nacks")));
  std::printf(
      "  reliable: %llu (message, subscription) pairs to deliver, %llu arrived, excused: %llu stored in a "
      "broker incarnation a restart or move wiped, %llu sent before re-subscription; %llu missing\n",
      static_cast<unsigned long long>(delivery.must_arrive), static_cast<unsigned long long>(delivery.arrived),
      static_cast<unsigned long long>(delivery.excused_incarnation),
      static_cast<unsigned long long>(delivery.excused_before_resubscribe),
      static_cast<unsigned long long>(delivery.missing));
  std::printf(
      "  objects: %llu clients built (%llu closed by churn), %llu short-lived clients, %llu producers "
      "created, %llu consumers subscribed, %llu closed from another thread, %llu inside callbacks\n",
      static_cast<unsigned long long>(get("clients built")),
      static_cast<unsigned long long>(get("clients closed by churn")),
      static_cast<unsigned long long>(get("short-lived clients")),
      static_cast<unsigned long long>(get("producers created")),
      static_cast<unsigned long long>(get("consumers subscribed")),
      static_cast<unsigned long long>(get("closed from another thread")),
      static_cast<unsigned long long>(get("producer closed inside its completion") +
                                      get("consumer closed inside its listener")));
  std::string faults;
  std::uint64_t fault_total = 0;
  for (const auto& [k, n] : counters) {
    if (k.starts_with("fault: ")) {
      faults += fmt::format("{}{} {}", faults.empty() ? "" : ", ", k.substr(7), n);
      fault_total += n;
    }
  }
  std::printf("  faults: %llu (%s)\n", static_cast<unsigned long long>(fault_total), faults.c_str());
  std::printf("  calls watched: %llu\n", static_cast<unsigned long long>(dog.calls()));
  std::printf(
      "  resources: threads %zu -> %zu (ours and the library's %zu -> %zu, slack %zu; peak %zu), fds %zu -> %zu (peak "
      "%zu, slack %zu), rss %zu -> "
      "%zu MiB (peak %zu; soak records %zu MiB%s)\n",
      baseline.threads, end.threads, baseline.own_threads, end.own_threads, o.thread_slack, peak_threads, baseline.fds,
      end.fds, peak_fds, o.fd_slack, baseline.rss_kib / 1024, end.rss_kib / 1024, peak_rss / 1024, ledger_kib / 1024,
      o.rss_check ? "" : "; not checked under a sanitizer");
  std::printf("  threads by name: before: %s; after: %s\n", baseline_threads.c_str(), thread_names().c_str());
  if (o.verbose) {
    std::printf("  counters:\n");
    for (const auto& [k, n] : counters) {
      std::printf("    %s: %llu\n", k.c_str(), static_cast<unsigned long long>(n));
    }
    std::printf("  longest calls (bound):\n");
    for (const auto& [k, v] : dog.longest()) {
      std::printf("    %s: %lld ms (%lld ms)\n", k.c_str(), static_cast<long long>(v.first.count()),
                  static_cast<long long>(v.second.count()));
    }
  }
  dog.stop();

  const auto fired = findings.violation_counts();
  if (self_test) {
    std::size_t missing = 0;
    std::printf("soak: self-test: each checker against its deliberate fault\n");
    for (const auto v : all_violations) {
      if (v == violation::rss_growth && !o.rss_check) {
        std::printf("  %-26s not checked in this build\n", std::string(to_string(v)).c_str());
        continue;
      }
      const bool hit = fired.contains(v);
      missing += hit ? 0 : 1;
      std::printf("  %-26s %s\n", std::string(to_string(v)).c_str(), hit ? "fired" : "DID NOT FIRE");
    }
    std::printf("soak: self-test %s\n", missing == 0 ? "PASS: every checker fired" : "FAIL");
    return missing == 0 ? 0 : 1;
  }
  const auto total = findings.total_violations();
  if (total == 0) {
    std::printf("soak: PASS, 0 violations, seed %llu\n", static_cast<unsigned long long>(o.seed));
    return 0;
  }
  std::printf("soak: FAIL, %zu violations, seed %llu; reproduce with: %s\n", total,
              static_cast<unsigned long long>(o.seed), reproduce.c_str());
  findings.print_violations(stdout);
  std::printf("soak: recent events:\n");
  findings.print_recent_events(stdout, 80);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  std::string reproduce;
  if (!parse(argc, argv, o, reproduce)) {
    return 2;
  }
  std::printf("soak: seed %llu (reproduce with: %s)\n", static_cast<unsigned long long>(o.seed), reproduce.c_str());
  std::fflush(stdout);
  if (o.self_test == "hang") {
    return self_test_hang(o, reproduce);
  }
  return run(std::move(o), reproduce);
}
