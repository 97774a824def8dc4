// Reliable dispatch of one subscription: which stored messages go to which consumer, when a message
// is redelivered, and what happens to one whose redeliveries are exhausted
// (docs/protocol.md §6.2-§6.7). Pure state transitions under the broker
// state's lock; nothing here waits. A consumer that cannot take a message now (inactive, or its
// buffer full) simply gets it on a later pass: reliable dispatch never drops.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/consumer.hpp>
#include <danube/testing/detail/dead_letter.hpp>
#include <danube/testing/detail/dispatcher.hpp>
#include <danube/testing/detail/key_shared_ring.hpp>
#include <danube/testing/detail/redelivery.hpp>
#include <danube/testing/detail/reliable_log.hpp>
#include <danube/testing/detail/reliable_subscription.hpp>
#include <danube/testing/detail/stream_effects.hpp>
#include <danube/testing/detail/subscription.hpp>
#include <danube/testing/failure_policy.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace danube::testing::detail {

namespace wire = ::danube::detail::wire;

// What a pass leaves for the broker to do once its lock is released.
struct reliable_followups {
  // Run the subscription's pass again at this time (an ack deadline, a redelivery, an eviction).
  std::optional<broker_clock::time_point> wake_at;
  // Exhausted messages to republish to their dead-letter topic.
  std::vector<dead_letter_job> dead_letters;

  void wake_no_later_than(broker_clock::time_point when) {
    if (!wake_at || when < *wake_at) {
      wake_at = when;
    }
  }
};

namespace reliable {

inline void deliver(consumer& target, const wire::StreamMessage& message, stream_effects& effects) {
  target.pending.push_back(message);
  if (target.stream) {
    effects.wake(target.stream);
  }
}

[[nodiscard]] inline bool key_in_window(const reliable_subscription& state, std::string_view key) {
  return std::ranges::any_of(state.window,
                             [&](const auto& entry) { return effective_routing_key(entry.second.message) == key; });
}

[[nodiscard]] inline bool key_blocked(const reliable_subscription& state, std::string_view key) {
  return std::ranges::any_of(state.blocked,
                             [&](const wire::StreamMessage& message) { return effective_routing_key(message) == key; });
}

// Ack timeouts become failures ("ack timeout"); exhausted messages meet the poison policy: Drop
// skips them, DeadLetter hands them to the broker for republishing (skipped once that succeeded),
// Block keeps them in the window.
inline void expire_and_resolve(const std::string& topic_name, const subscription& sub, reliable_subscription& state,
                               broker_clock::time_point now, reliable_followups& out) {
  for (auto& [offset, delivery] : state.window) {
    if (delivery.ack_timed_out(now)) {
      delivery.failed("ack timeout", std::nullopt, now, state.policy);
    }
  }
  for (auto it = state.window.begin(); it != state.window.end();) {
    pending_delivery& delivery = it->second;
    if (delivery.exhausted()) {
      if (state.policy.poison_policy == poison::drop) {
        it = state.window.erase(it);
        continue;
      }
      if (state.policy.poison_policy == poison::dead_letter && !delivery.dead_lettering &&
          state.policy.dead_letter_topic && now >= delivery.retry_at) {
        delivery.dead_lettering = true;
        out.dead_letters.push_back(
            make_dead_letter_job(delivery, topic_name, sub.name, *state.policy.dead_letter_topic));
      }
    }
    ++it;
  }
}

// The next time something in the window falls due.
inline void next_deadline(const reliable_subscription& state, broker_clock::time_point now, reliable_followups& out) {
  for (const auto& [offset, delivery] : state.window) {
    if (delivery.awaiting_ack()) {
      out.wake_no_later_than(delivery.ack_deadline);
    } else if (delivery.status == delivery_status::waiting_retry && delivery.retry_at > now) {
      out.wake_no_later_than(delivery.retry_at);
    } else if (delivery.exhausted() && state.policy.poison_policy == poison::dead_letter && !delivery.dead_lettering &&
               delivery.retry_at > now) {
      out.wake_no_later_than(delivery.retry_at);  // a failed dead-letter republish, tried again
    }
  }
}

// Exclusive and Failover (the first consumer to join, for good: upstream never fails over),
// Shared (round-robin over the consumers that can take a message). Redeliveries go first, in offset
// order; then new messages while fewer than max_unacked are in the window. An exhausted message
// under Block stops new messages.
inline void pass_ordered(const reliable_log& log, subscription& sub, consumer_table& consumers,
                         broker_clock::time_point now, stream_effects& effects) {
  reliable_subscription& state = *sub.reliable;
  const auto pick = [&]() -> consumer* {
    return sub.type == subscription_type::shared ? next_round_robin(sub, consumers)
                                                 : first_consumer_if_ready(sub, consumers);
  };
  for (auto& [offset, delivery] : state.window) {
    if (!delivery.retry_ready(now)) {
      continue;
    }
    consumer* target = pick();
    if (target == nullptr) {
      return;  // nobody can take it now; new messages must not overtake it either
    }
    deliver(*target, delivery.message, effects);
    delivery.sent_to(target->id, now, state.policy);
  }
  if (state.policy.poison_policy == poison::block &&
      std::ranges::any_of(state.window, [](const auto& entry) { return entry.second.exhausted(); })) {
    return;
  }
  while (state.window.size() < state.max_unacked) {
    const wire::StreamMessage* next = log.find(state.read_cursor);
    if (next == nullptr) {
      return;  // caught up
    }
    consumer* target = pick();
    if (target == nullptr) {
      return;
    }
    pending_delivery delivery;
    delivery.message = *next;
    deliver(*target, *next, effects);
    delivery.sent_to(target->id, now, state.policy);
    state.window.emplace(state.read_cursor++, std::move(delivery));
  }
}

// The KeyShared ring's members: every consumer except those inactive for longer than the eviction
// grace. An evicted consumer's keys move to the others; it rejoins when it is active again, unless
// eviction is permanent (upstream's behaviour, broker_quirks): then it never rejoins and the
// messages it held count as acknowledged.
inline void assign_key_shared_ring(subscription& sub, consumer_table& consumers, broker_clock::time_point now,
                                   reliable_followups& out) {
  reliable_subscription& state = *sub.reliable;
  std::vector<std::uint64_t> members;
  members.reserve(sub.consumers.size());
  for (const std::uint64_t id : sub.consumers) {
    const auto found = consumers.find(id);
    if (found == consumers.end() || state.evicted.contains(id)) {
      continue;
    }
    if (found->second.active) {
      state.inactive_since.erase(id);
      members.push_back(id);
      continue;
    }
    const auto since = state.inactive_since.try_emplace(id, now).first->second;
    if (now - since < key_shared_eviction_grace) {
      members.push_back(id);
      out.wake_no_later_than(since + key_shared_eviction_grace);
    } else if (state.eviction_is_permanent) {
      state.evicted.insert(id);
      state.inactive_since.erase(id);
      std::erase_if(state.window, [id](const auto& entry) {
        const pending_delivery& delivery = entry.second;
        return !delivery.exhausted() && delivery.last_consumer_id == id &&
               (delivery.awaiting_ack() || delivery.consumer_id == 0);
      });
    } else {
      for (auto& [offset, delivery] : state.window) {
        if (delivery.awaiting_ack() && delivery.consumer_id == id) {
          delivery.retry_now(now);
        }
      }
    }
  }
  sub.ring.assign(members);
}

// KeyShared: each message goes to the ring owner of its routing key among the consumers whose
// filters admit it; at most one message per key is in the window, later ones wait in `blocked` in
// log order. A message no consumer admits is skipped (lost for this subscription, as upstream).
// Window + blocked stay within max_unacked.
inline void pass_key_shared(const reliable_log& log, subscription& sub, consumer_table& consumers,
                            broker_clock::time_point now, stream_effects& effects) {
  reliable_subscription& state = *sub.reliable;
  // The owner of `key` if it can take a message now; `admitted` tells whether any consumer wants it.
  const auto ready_owner = [&](std::string_view key, bool& admitted) -> consumer* {
    const auto owner = key_owner(sub, consumers, key);
    admitted = owner.has_value();
    if (!owner) {
      return nullptr;
    }
    const auto found = consumers.find(*owner);
    return found != consumers.end() && found->second.can_accept() ? &found->second : nullptr;
  };
  bool admitted = false;
  for (auto& [offset, delivery] : state.window) {
    if (!delivery.retry_ready(now)) {
      continue;
    }
    if (consumer* target = ready_owner(effective_routing_key(delivery.message), admitted)) {
      deliver(*target, delivery.message, effects);
      delivery.sent_to(target->id, now, state.policy);
    }
  }
  std::vector<std::string> held;  // keys that keep waiting this pass, so later messages of theirs wait too
  for (auto it = state.blocked.begin(); it != state.blocked.end();) {
    const std::string& key = effective_routing_key(*it);
    if (std::ranges::find(held, key) != held.end() || key_in_window(state, key)) {
      held.push_back(key);
      ++it;
      continue;
    }
    consumer* target = ready_owner(key, admitted);
    if (!admitted) {
      it = state.blocked.erase(it);
      continue;
    }
    if (target == nullptr) {
      held.push_back(key);
      ++it;
      continue;
    }
    pending_delivery delivery;
    delivery.message = std::move(*it);
    it = state.blocked.erase(it);
    deliver(*target, delivery.message, effects);
    delivery.sent_to(target->id, now, state.policy);
    const std::uint64_t offset = delivery.message.msg_id().topic_offset();
    state.window.emplace(offset, std::move(delivery));
  }
  while (state.window.size() + state.blocked.size() < state.max_unacked) {
    const wire::StreamMessage* next = log.find(state.read_cursor);
    if (next == nullptr) {
      return;
    }
    ++state.read_cursor;
    const std::string& key = effective_routing_key(*next);
    consumer* target = ready_owner(key, admitted);
    if (!admitted) {
      continue;
    }
    if (target == nullptr || key_in_window(state, key) || key_blocked(state, key)) {
      state.blocked.push_back(*next);
      continue;
    }
    pending_delivery delivery;
    delivery.message = *next;
    deliver(*target, *next, effects);
    delivery.sent_to(target->id, now, state.policy);
    state.window.emplace(next->msg_id().topic_offset(), std::move(delivery));
  }
}

}  // namespace reliable

// One dispatch pass over a reliable subscription: expire, resolve, redeliver, then fill the window.
// Runs after anything that may let it progress: a publish, an ack or nack, a consumer joining or
// coming back, room in a consumer's buffer, a deadline.
[[nodiscard]] inline reliable_followups reliable_pass(const std::string& topic_name, const reliable_log& log,
                                                      subscription& sub, consumer_table& consumers,
                                                      broker_clock::time_point now, stream_effects& effects) {
  reliable_followups out;
  if (!sub.reliable) {
    return out;
  }
  reliable::expire_and_resolve(topic_name, sub, *sub.reliable, now, out);
  if (sub.type == subscription_type::key_shared) {
    reliable::assign_key_shared_ring(sub, consumers, now, out);
    reliable::pass_key_shared(log, sub, consumers, now, effects);
  } else {
    reliable::pass_ordered(log, sub, consumers, now, effects);
  }
  reliable::next_deadline(*sub.reliable, now, out);
  return out;
}

// Ack: an offset awaiting its ack leaves the window; anything else (late, unknown, already
// redelivering) is ignored. True when the window changed.
[[nodiscard]] inline bool reliable_ack(subscription& sub, std::uint64_t offset) {
  if (!sub.reliable) {
    return false;
  }
  const auto found = sub.reliable->window.find(offset);
  if (found == sub.reliable->window.end() || !found->second.awaiting_ack()) {
    return false;
  }
  sub.reliable->window.erase(found);
  return true;
}

// Nack: the failure policy decides between a redelivery after the backoff (delay_ms can only
// lengthen it) and exhaustion; the reason is kept for x-failure-reason. Late nacks are ignored.
[[nodiscard]] inline bool reliable_nack(subscription& sub, std::uint64_t offset, std::optional<std::uint64_t> delay_ms,
                                        std::optional<std::string> reason, broker_clock::time_point now) {
  if (!sub.reliable) {
    return false;
  }
  const auto found = sub.reliable->window.find(offset);
  if (found == sub.reliable->window.end()) {
    return false;
  }
  found->second.failed(std::move(reason), delay_ms, now, sub.reliable->policy);
  return true;
}

// `gone`'s stream ended (the client left, or a re-Subscribe or newer stream took over): what was
// buffered for it is dropped, and its unacknowledged messages are redelivered first, as soon as a
// consumer can take them: every non-exhausted message for Exclusive and Failover, that consumer's
// for Shared and KeyShared.
inline void reliable_stream_ended(subscription& sub, consumer& gone, broker_clock::time_point now) {
  if (!sub.reliable) {
    return;
  }
  gone.pending.clear();
  const bool whole_window = sub.type == subscription_type::exclusive || sub.type == subscription_type::failover;
  for (auto& [offset, delivery] : sub.reliable->window) {
    if (whole_window ? !delivery.exhausted() : (delivery.awaiting_ack() && delivery.consumer_id == gone.id)) {
      delivery.retry_now(now);
    }
  }
}

}  // namespace danube::testing::detail
