// The soak's record of what was sent, what completed, what arrived where, and when the broker
// side lost state (a broker restart or stop, a topic move), and the end-of-run checks over it.
// No gRPC and no danube types beyond plain values: the checks are pure functions of the record.
//
// Payloads are "L<lane>:<seq>:<padding>"; a lane is one logical producer (it may be re-created
// many times) sending seq 0, 1, 2, ... to one topic.
//
// What the embedded broker loses, and so what is excused (docs/embedded-broker.md: nothing
// reliable survives a restart or a move; a new subscription starts at the latest message):
//   * a message whose send started before a disruption of its partition ended may have been
//     stored in the incarnation that disruption wiped. For an ordered subscription (exclusive,
//     failover) this is excused only if no later message of the same lane and partition arrived
//     before the disruption began (ordered delivery would have delivered this one first);
//   * a message sent after a disruption but before the re-created subscription existed: one that
//     precedes the first message of its lane and partition that arrived after the disruption.
// Everything else acknowledged on a reliable topic must arrive on every subscription of it, and
// every message acknowledged `strict_after` (the quiet phase, with time for recovery) must arrive
// whatever happened before.
#pragma once

#include "soak/report.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace soak {

using millis = std::uint32_t;  // since the run started
inline constexpr millis never = std::numeric_limits<millis>::max();

enum class sub_type : std::uint8_t { exclusive, shared, failover, key_shared };

[[nodiscard]] constexpr std::string_view to_string(sub_type t) noexcept {
  switch (t) {
    case sub_type::exclusive: return "exclusive";
    case sub_type::shared: return "shared";
    case sub_type::failover: return "failover";
    case sub_type::key_shared: return "key_shared";
  }
  return "?";
}

struct lane_spec {
  std::string name;                     // "L3"
  std::vector<std::string> partitions;  // partition topic names; one entry for a plain topic
  bool reliable = false;
  bool ordered = true;  // max_in_flight 1: stored in send order per partition
  bool keyed = false;   // send_with_key with key_of(seq)
};

// Routing keys of keyed lanes: a few keys, so KeyShared spreads them and keeps per-key order.
inline constexpr std::uint64_t key_count = 7;
[[nodiscard]] inline std::string key_of(std::uint64_t seq) { return fmt::format("k{}", seq % key_count); }

struct sub_spec {
  std::string name;  // "/default/soak-r1:ex"
  std::string subscription;
  sub_type type = sub_type::shared;
  bool reliable = false;
  std::vector<std::size_t> lanes;  // the lanes publishing to its topic
};

// "L<lane>:<seq>:" and 0-200 bytes of padding that depend on both: a receiver can rebuild the
// exact payload and so notices a corrupted or mixed-up message.
[[nodiscard]] inline std::string payload_of(std::size_t lane, std::uint64_t seq) {
  const auto padding = static_cast<std::size_t>((seq * 7919 + lane * 31) % 201);
  return fmt::format("L{}:{}:{}", lane, seq, std::string(padding, static_cast<char>('a' + (seq + lane) % 26)));
}

// "L<lane>:<seq>:..." -> (lane, seq).
[[nodiscard]] inline std::optional<std::pair<std::size_t, std::uint64_t>> parse_payload(std::string_view p) {
  if (p.size() < 4 || p[0] != 'L') {
    return std::nullopt;
  }
  std::size_t lane = 0;
  std::uint64_t seq = 0;
  const auto* end = p.data() + p.size();
  auto [after_lane, e1] = std::from_chars(p.data() + 1, end, lane);
  if (e1 != std::errc() || after_lane == end || *after_lane != ':') {
    return std::nullopt;
  }
  auto [after_seq, e2] = std::from_chars(after_lane + 1, end, seq);
  if (e2 != std::errc() || after_seq == end || *after_seq != ':') {
    return std::nullopt;
  }
  return std::pair{lane, seq};
}

enum class outcome : std::uint8_t { pending, ok, failed };

struct send_entry {
  millis started = 0;
  millis finished = 0;
  std::uint32_t completion_index = 0;  // the lane's n-th completion (1-based)
  std::uint8_t completions = 0;
  outcome result = outcome::pending;
  std::uint8_t error_code = 0;    // danube::errc when failed
  std::uint8_t partition = 0xff;  // index into the lane's partitions when ok
  bool closed_error = false;      // failed with errc::closed (completion order not promised then)
};

struct arrival_entry {
  millis first_at = never;
  std::uint32_t first_index = 0;  // the subscription's n-th first arrival
  std::uint16_t count = 0;
  std::uint8_t partition = 0xff;
  std::uint8_t first_consumer = 0xff;
};

struct delivery_figures {
  std::uint64_t must_arrive = 0;  // acknowledged reliable messages x subscriptions checked
  std::uint64_t arrived = 0;
  std::uint64_t excused_incarnation = 0;         // possibly stored in a broker incarnation a disruption wiped
  std::uint64_t excused_before_resubscribe = 0;  // sent before the re-created subscription existed
  std::uint64_t missing = 0;                     // violations
};

class ledger {
 public:
  ledger(report& findings, std::vector<lane_spec> lanes, std::vector<sub_spec> subs)
      : report_(findings), lanes_(std::move(lanes)), subs_(std::move(subs)) {
    lane_state_.reserve(lanes_.size());
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
      lane_state_.push_back(std::make_unique<lane_state>());
    }
    sub_state_.reserve(subs_.size());
    for (std::size_t s = 0; s < subs_.size(); ++s) {
      auto state = std::make_unique<sub_state>();
      for (const auto lane : subs_[s].lanes) {
        state->arrivals.emplace(lane, std::deque<arrival_entry>{});
      }
      sub_state_.push_back(std::move(state));
    }
  }

  [[nodiscard]] const std::vector<lane_spec>& lanes() const noexcept { return lanes_; }
  [[nodiscard]] const std::vector<sub_spec>& subs() const noexcept { return subs_; }

  // ------------------------------------------------------------------------------------------
  // Sends

  // A new send of `lane`: its sequence number.
  [[nodiscard]] std::uint64_t begin_send(std::size_t lane) {
    auto& l = *lane_state_.at(lane);
    const std::lock_guard lock(l.mu);
    l.sends.push_back(send_entry{.started = report_.millis_since_start()});
    l.issued.store(l.sends.size());
    return l.sends.size() - 1;
  }

  // The completion of send `seq`: `ok_partition` is the partition topic of the message id when
  // acknowledged, std::nullopt with the error code when failed.
  void complete(std::size_t lane, std::uint64_t seq, std::optional<std::string_view> ok_partition, int error_code,
                bool closed_error) {
    auto& l = *lane_state_.at(lane);
    std::optional<std::string> problem;
    {
      const std::lock_guard lock(l.mu);
      if (seq >= l.sends.size()) {
        problem = fmt::format("completion of lane {} seq {} that was never sent", lanes_[lane].name, seq);
      } else {
        auto& e = l.sends[seq];
        ++e.completions;
        if (e.completions > 1) {
          problem = fmt::format("lane {} seq {} completed {} times", lanes_[lane].name, seq, e.completions);
        } else {
          e.finished = report_.millis_since_start();
          e.completion_index = ++l.completed;
          if (ok_partition) {
            e.result = outcome::ok;
            e.partition = partition_index_(lane, *ok_partition);
          } else {
            e.result = outcome::failed;
            e.error_code = static_cast<std::uint8_t>(error_code);
            e.closed_error = closed_error;
          }
        }
      }
    }
    if (problem) {
      report_.add(violation::send_completed_twice, std::move(*problem));
    }
  }

  [[nodiscard]] std::uint64_t issued(std::size_t lane) const { return lane_state_.at(lane)->issued.load(); }

  // Sends of `lane` in [from, to) that have not completed yet.
  [[nodiscard]] std::vector<std::uint64_t> uncompleted(std::size_t lane, std::uint64_t from, std::uint64_t to) const {
    auto& l = *lane_state_.at(lane);
    const std::lock_guard lock(l.mu);
    std::vector<std::uint64_t> out;
    for (auto seq = from; seq < to && seq < l.sends.size(); ++seq) {
      if (l.sends[seq].completions == 0) {
        out.push_back(seq);
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // Arrivals

  // A message received on subscription `sub` from partition `partition_topic`. Returns whether it
  // is its first arrival there (the consumer nacks only first arrivals). Payloads of the
  // short-lived producers ("E...") are not tracked.
  bool arrive(std::size_t sub, std::size_t consumer, std::string_view payload, std::string_view partition_topic) {
    if (!payload.empty() && payload[0] == 'E') {
      return false;
    }
    const auto parsed = parse_payload(payload);
    auto& s = *sub_state_.at(sub);
    std::optional<std::string> problem;
    bool first = false;
    {
      const std::lock_guard lock(s.mu);
      ++s.total;
      if (!parsed) {
        problem = fmt::format("{}: a payload no lane sent: '{}'", subs_[sub].name, payload.substr(0, 40));
      } else if (const auto it = s.arrivals.find(parsed->first); it == s.arrivals.end()) {
        problem = fmt::format("{}: a message of lane {} (seq {}), which does not publish to this topic",
                              subs_[sub].name, parsed->first, parsed->second);
      } else if (parsed->second >= issued(parsed->first)) {
        problem = fmt::format("{}: lane {} seq {} arrived but only {} were sent", subs_[sub].name,
                              lanes_[parsed->first].name, parsed->second, issued(parsed->first));
      } else {
        auto& log = it->second;
        if (log.size() <= parsed->second) {
          log.resize(parsed->second + 1);
        }
        auto& a = log[parsed->second];
        if (a.count == 0) {
          first = true;
          a.first_at = report_.millis_since_start();
          a.first_index = ++s.first_arrivals;
          a.partition = partition_index_(parsed->first, partition_topic);
          a.first_consumer = static_cast<std::uint8_t>(std::min<std::size_t>(consumer, 0xfe));
        }
        if (a.count < std::numeric_limits<std::uint16_t>::max()) {
          ++a.count;
        }
        const auto ordered = subs_[sub].type == sub_type::exclusive || subs_[sub].type == sub_type::failover;
        if (ordered && lanes_[parsed->first].ordered) {
          const auto key = std::tuple{consumer, parsed->first, partition_index_(parsed->first, partition_topic)};
          auto [newest, fresh] = s.newest.try_emplace(key, parsed->second);
          if (!fresh && parsed->second > newest->second) {
            newest->second = parsed->second;
          } else if (!fresh && first && parsed->second < newest->second) {
            s.consumer_disorder.push_back({consumer, parsed->first, parsed->second, newest->second});
          }
        }
      }
    }
    if (problem) {
      report_.add(violation::phantom_message, std::move(*problem));
    }
    return first;
  }

  // ------------------------------------------------------------------------------------------
  // Disruptions: [begin, end] during which the broker side of `partition_topic` lost its state.

  void disruption(const std::string& partition_topic, millis begin, millis end) {
    const std::lock_guard lock(disruptions_mu_);
    disruptions_[partition_topic].emplace_back(begin, end);
  }
  // Messages acknowledged after this must all arrive, whatever happened before.
  void set_strict_after(millis t) { strict_after_.store(t); }

  // ------------------------------------------------------------------------------------------
  // Checks

  // The reliable messages that must have arrived by now and have not. With `report_missing`,
  // each is a violation; otherwise the count is for waiting (the drain loop).
  delivery_figures check_delivery(bool report_missing) {
    delivery_figures figures;
    for (std::size_t sub = 0; sub < subs_.size(); ++sub) {
      if (!subs_[sub].reliable) {
        continue;
      }
      for (const auto lane : subs_[sub].lanes) {
        if (!lanes_[lane].reliable) {
          continue;
        }
        for (std::size_t p = 0; p < lanes_[lane].partitions.size(); ++p) {
          check_delivery_(sub, lane, static_cast<std::uint8_t>(p), report_missing, figures);
        }
      }
    }
    return figures;
  }

  // Completions exactly once, completion order per plain-topic lane, first-arrival order per
  // ordered subscription, arrival partitions. Call once everything has stopped.
  void check_final() {
    for (std::size_t lane = 0; lane < lanes_.size(); ++lane) {
      check_completions_(lane);
    }
    for (std::size_t sub = 0; sub < subs_.size(); ++sub) {
      for (const auto lane : subs_[sub].lanes) {
        check_order_and_partitions_(sub, lane);
      }
    }
  }

  struct totals {
    std::uint64_t sends = 0, ok = 0, failed = 0, pending = 0;
    std::map<int, std::uint64_t> failures_by_code;
    std::uint64_t arrivals = 0, first_arrivals = 0;
    std::size_t bytes = 0;  // the ledger's own memory, excluded from the RSS check
  };
  [[nodiscard]] totals summarize() const {
    totals t;
    for (const auto& l : lane_state_) {
      const std::lock_guard lock(l->mu);
      for (const auto& e : l->sends) {
        ++t.sends;
        if (e.result == outcome::ok) {
          ++t.ok;
        } else if (e.result == outcome::failed) {
          ++t.failed;
          ++t.failures_by_code[e.error_code];
        } else {
          ++t.pending;
        }
      }
      t.bytes += l->sends.size() * sizeof(send_entry);
    }
    for (const auto& s : sub_state_) {
      const std::lock_guard lock(s->mu);
      t.arrivals += s->total;
      t.first_arrivals += s->first_arrivals;
      for (const auto& [lane, log] : s->arrivals) {
        t.bytes += log.size() * sizeof(arrival_entry);
      }
    }
    return t;
  }

  // For the self-test: the seq of an acknowledged send of `lane`, at least `from`.
  [[nodiscard]] std::optional<std::uint64_t> first_ok_send(std::size_t lane, std::uint64_t from) const {
    auto& l = *lane_state_.at(lane);
    const std::lock_guard lock(l.mu);
    for (auto seq = from; seq < l.sends.size(); ++seq) {
      if (l.sends[seq].result == outcome::ok) {
        return seq;
      }
    }
    return std::nullopt;
  }

 private:
  struct lane_state {
    mutable std::mutex mu;
    std::deque<send_entry> sends;  // by seq
    std::atomic<std::uint64_t> issued{0};
    std::uint32_t completed = 0;
  };
  struct disorder_entry {
    std::size_t consumer;
    std::size_t lane;
    std::uint64_t seq;
    std::uint64_t newer;
  };
  struct sub_state {
    mutable std::mutex mu;
    std::map<std::size_t, std::deque<arrival_entry>> arrivals;  // lane -> by seq
    // (consumer, lane, partition) -> the newest seq that consumer received
    std::map<std::tuple<std::size_t, std::size_t, std::uint8_t>, std::uint64_t> newest;
    std::vector<disorder_entry> consumer_disorder;  // first arrivals older than their consumer's newest
    std::uint32_t first_arrivals = 0;
    std::uint64_t total = 0;
  };

  [[nodiscard]] std::uint8_t partition_index_(std::size_t lane, std::string_view topic) const {
    const auto& parts = lanes_[lane].partitions;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (parts[i] == topic) {
        return static_cast<std::uint8_t>(i);
      }
    }
    return 0xfe;  // a topic the lane does not publish to
  }

  // Disruptions of a partition, overlapping ones merged, in time order.
  [[nodiscard]] std::vector<std::pair<millis, millis>> merged_disruptions_(const std::string& topic) {
    std::vector<std::pair<millis, millis>> raw;
    {
      const std::lock_guard lock(disruptions_mu_);
      if (const auto it = disruptions_.find(topic); it != disruptions_.end()) {
        raw = it->second;
      }
    }
    std::sort(raw.begin(), raw.end());
    std::vector<std::pair<millis, millis>> merged;
    for (const auto& d : raw) {
      if (!merged.empty() && d.first <= merged.back().second) {
        merged.back().second = std::max(merged.back().second, d.second);
      } else {
        merged.push_back(d);
      }
    }
    return merged;
  }

  void check_delivery_(std::size_t sub, std::size_t lane, std::uint8_t partition, bool report_missing,
                       delivery_figures& figures) {
    const auto& topic = lanes_[lane].partitions[partition];
    const auto disruptions = merged_disruptions_(topic);
    const bool ordered = subs_[sub].type == sub_type::exclusive || subs_[sub].type == sub_type::failover;
    const auto strict_after = strict_after_.load();

    // The acknowledged sends of this lane on this partition, in seq (= start time) order, with
    // their first arrival on this subscription.
    struct item {
      std::uint64_t seq;
      millis started;
      millis finished;
      millis arrived;  // never if not
    };
    std::vector<item> items;
    {
      auto& l = *lane_state_[lane];
      auto& s = *sub_state_[sub];
      const std::scoped_lock lock(l.mu, s.mu);
      const auto& log = s.arrivals.at(lane);
      for (std::uint64_t seq = 0; seq < l.sends.size(); ++seq) {
        const auto& e = l.sends[seq];
        if (e.result != outcome::ok || e.partition != partition) {
          continue;
        }
        const auto arrived = seq < log.size() && log[seq].count > 0 ? log[seq].first_at : never;
        items.push_back({seq, e.started, e.finished, arrived});
      }
    }
    if (items.empty()) {
      return;
    }
    // epoch(i): how many disruptions had ended when send i started.
    const auto epoch = [&](const item& it) {
      return static_cast<std::size_t>(
          std::upper_bound(disruptions.begin(), disruptions.end(), it.started,
                           [](millis t, const std::pair<millis, millis>& d) { return t < d.second; }) -
          disruptions.begin());
    };
    // first_after[c]: the first seq that arrived among sends started after disruption c-1 ended.
    std::vector<std::optional<std::uint64_t>> first_after(disruptions.size() + 1);
    for (const auto& it : items) {
      if (it.arrived == never) {
        continue;
      }
      // Epochs grow with seq: the smaller epochs without an entry get this one too.
      for (auto c = epoch(it); !first_after[c]; --c) {
        first_after[c] = it.seq;
        if (c == 0) {
          break;
        }
      }
    }
    // later_arrival[i]: the earliest first arrival of a send after item i.
    std::vector<millis> later_arrival(items.size(), never);
    for (auto i = items.size() - 1; i > 0; --i) {
      later_arrival[i - 1] = std::min(later_arrival[i], items[i].arrived);
    }

    std::vector<std::string> lost;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& it = items[i];
      ++figures.must_arrive;
      if (it.arrived != never) {
        ++figures.arrived;
        continue;
      }
      const bool strict = it.started >= strict_after;
      const auto c = epoch(it);
      const bool after_resubscribe = c == 0 || (first_after[c] && it.seq > *first_after[c]);
      std::string why;
      if (strict) {
        why = "sent in the quiet phase";
      } else if (!after_resubscribe) {
        ++figures.excused_before_resubscribe;
        continue;
      } else if (c < disruptions.size()) {
        // A disruption ended after this send started: it may have been stored in the wiped
        // incarnation. Not for an ordered subscription that already delivered a later message.
        if (ordered && later_arrival[i] < disruptions[c].first) {
          why = fmt::format("a later message arrived at t={:.3f}, before the broker lost the topic at t={:.3f}",
                            later_arrival[i] / 1000.0, disruptions[c].first / 1000.0);
        } else {
          ++figures.excused_incarnation;
          continue;
        }
      } else {
        why = disruptions.empty() ? "no disruption" : "sent after the last disruption and after re-subscription";
      }
      ++figures.missing;
      if (report_missing) {
        lost.push_back(fmt::format("{} never received lane {} seq {} on {} (sent t={:.3f}, acknowledged t={:.3f}): {}",
                                   subs_[sub].name, lanes_[lane].name, it.seq, topic, it.started / 1000.0,
                                   it.finished / 1000.0, why));
      }
    }
    for (auto& text : lost) {
      report_.add(violation::reliable_message_lost, std::move(text));
    }
  }

  void check_completions_(std::size_t lane) {
    std::vector<std::string> missing;
    std::vector<std::string> disorder;
    {
      auto& l = *lane_state_[lane];
      const std::lock_guard lock(l.mu);
      // Completion order: per partition; failed sends of a partitioned lane have no known
      // partition, so the order is checked on plain-topic lanes only, among completions other
      // than errc::closed (a send made while another thread closes the producer fails at once).
      const bool order = lanes_[lane].partitions.size() == 1;
      std::uint32_t last = 0;
      std::uint64_t last_seq = 0;
      for (std::uint64_t seq = 0; seq < l.sends.size(); ++seq) {
        const auto& e = l.sends[seq];
        if (e.completions == 0) {
          missing.push_back(fmt::format("lane {} seq {} (sent t={:.3f}) never completed", lanes_[lane].name, seq,
                                        e.started / 1000.0));
          continue;
        }
        if (!order || e.closed_error) {
          continue;
        }
        if (e.completion_index < last) {
          disorder.push_back(fmt::format("lane {}: seq {} completed after seq {}", lanes_[lane].name, last_seq, seq));
        }
        last = e.completion_index;
        last_seq = seq;
      }
    }
    for (auto& text : missing) {
      report_.add(violation::send_not_completed, std::move(text));
    }
    for (auto& text : disorder) {
      report_.add(violation::completion_out_of_order, std::move(text));
    }
  }

  void check_order_and_partitions_(std::size_t sub, std::size_t lane) {
    const auto type = subs_[sub].type;
    // Exclusive: one consumer name, so the subscription's first arrivals of a partition come in
    // order. KeyShared keeps one key on one consumer at a time, and a reliable window holds one
    // message per key: first arrivals of a key come in order. (Failover can hand a partition to
    // the standby while the first consumer is away; each consumer's own order is checked as the
    // messages arrive, see arrive().)
    const bool by_partition = type == sub_type::exclusive && lanes_[lane].ordered;
    const bool by_key =
        type == sub_type::key_shared && lanes_[lane].ordered && lanes_[lane].keyed && subs_[sub].reliable;
    std::vector<std::vector<std::pair<millis, millis>>> disruptions;
    for (const auto& topic : lanes_[lane].partitions) {
      disruptions.push_back(merged_disruptions_(topic));
    }
    // KeyShared: a disruption hands a key to another consumer while the old one may still hold
    // older messages of it in its receive queue; order is only promised between two messages when
    // no disruption of their partition lay between the first one's send and the second's arrival.
    const auto disrupted_between = [&](std::uint8_t partition, millis from, millis to) {
      for (const auto& [begin, end] : disruptions[partition]) {
        if (begin <= to && end >= from) {
          return true;
        }
      }
      return false;
    };
    std::vector<std::string> problems;
    std::vector<std::string> misplaced;
    {
      auto& l = *lane_state_[lane];
      auto& s = *sub_state_[sub];
      const std::scoped_lock lock(l.mu, s.mu);
      const auto& log = s.arrivals.at(lane);
      const auto last = std::min<std::uint64_t>(log.size(), l.sends.size());
      // Walking back from the newest: the earliest first arrival among later sends of the same
      // (partition, key); a send that first arrived after it arrived late.
      std::map<std::pair<std::uint8_t, std::uint64_t>, std::pair<std::uint32_t, std::uint64_t>> earliest_later;
      for (auto seq = last; seq-- > 0;) {
        const auto& a = log[seq];
        const auto& e = l.sends[seq];
        if (a.count == 0 || e.result != outcome::ok) {
          continue;
        }
        if (a.partition != e.partition) {
          misplaced.push_back(fmt::format(
              "{}: lane {} seq {} arrived from {} but was acknowledged on {}", subs_[sub].name, lanes_[lane].name, seq,
              a.partition < lanes_[lane].partitions.size() ? lanes_[lane].partitions[a.partition]
                                                           : std::string("another topic"),
              lanes_[lane].partitions[e.partition]));
          continue;
        }
        if (!by_partition && !by_key) {
          continue;
        }
        const auto group = std::pair{e.partition, by_key ? seq % key_count : 0};
        auto [it, fresh] = earliest_later.try_emplace(group, a.first_index, seq);
        if (fresh) {
          continue;
        }
        if (a.first_index > it->second.first) {
          const auto& later = log[it->second.second];
          if (by_key && disrupted_between(e.partition, e.started, later.first_at)) {
            continue;  // not promised across a disruption (above)
          }
          problems.push_back(fmt::format(
              "{} ({}): lane {} on {}{}: seq {} (sent t={:.3f}) first arrived at t={:.3f} on consumer {}, after seq "
              "{} at t={:.3f} on consumer {}",
              subs_[sub].name, to_string(type), lanes_[lane].name, lanes_[lane].partitions[e.partition],
              by_key ? fmt::format(" key {}", key_of(seq)) : std::string(), seq, e.started / 1000.0,
              a.first_at / 1000.0, a.first_consumer, it->second.second, later.first_at / 1000.0, later.first_consumer));
        } else {
          it->second = {a.first_index, seq};
        }
      }
    }
    for (auto& text : problems) {
      report_.add(violation::out_of_order_delivery, std::move(text));
    }
    for (auto& text : misplaced) {
      report_.add(violation::phantom_message, std::move(text));
    }
    // Per consumer: a first arrival older than what the same consumer already had.
    std::vector<std::string> per_consumer;
    {
      auto& l = *lane_state_[lane];
      auto& s = *sub_state_[sub];
      const std::scoped_lock lock(l.mu, s.mu);
      for (const auto& c : s.consumer_disorder) {
        if (c.lane == lane && c.seq < l.sends.size() && c.newer < l.sends.size() &&
            l.sends[c.seq].result == outcome::ok && l.sends[c.newer].result == outcome::ok) {
          per_consumer.push_back(
              fmt::format("{} ({}): consumer {} received lane {} seq {} for the first time after "
                          "seq {}",
                          subs_[sub].name, to_string(type), c.consumer, lanes_[lane].name, c.seq, c.newer));
        }
      }
    }
    for (auto& text : per_consumer) {
      report_.add(violation::out_of_order_delivery, std::move(text));
    }
  }

  report& report_;
  const std::vector<lane_spec> lanes_;
  const std::vector<sub_spec> subs_;
  std::vector<std::unique_ptr<lane_state>> lane_state_;
  std::vector<std::unique_ptr<sub_state>> sub_state_;
  std::mutex disruptions_mu_;
  std::map<std::string, std::vector<std::pair<millis, millis>>> disruptions_;
  std::atomic<millis> strict_after_{never};
};

}  // namespace soak
