// The pool of completed send_ops a topic_producer reuses: it keeps only ops nobody else holds, at
// most its count, and at most its byte budget of payload buffers; a reused op carries nothing of
// the previous message; an op dropped before its completion ran still releases its pending slot
// and completes once.
#include <danube/detail/pending_limiter.hpp>
#include <danube/detail/topic_producer.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

namespace {

using danube::detail::send_op;
using danube::detail::send_op_pool;
constexpr std::size_t pool_test_mib = 1024 * 1024;

std::shared_ptr<send_op> completed_op(std::size_t payload_bytes) {
  auto op = std::make_shared<send_op>();
  op->request.set_payload(std::string(payload_bytes, 'p'));
  return op;
}

}  // namespace

TEST_SUITE("send_op pool") {
  TEST_CASE("an op someone else still holds is not kept (only its last holder may reuse it)") {
    send_op_pool pool(8);
    auto op = completed_op(16);
    const auto other = op;  // e.g. close() cancelling it
    pool.give_back(std::move(op));
    CHECK(pool.size() == 0);
    CHECK(pool.take() == nullptr);
  }

  TEST_CASE("at most max_ops are kept, and take() hands them out again") {
    send_op_pool pool(2);
    std::vector<send_op*> given;
    for (int i = 0; i < 5; ++i) {
      auto op = completed_op(16);
      given.push_back(op.get());
      pool.give_back(std::move(op));
    }
    CHECK(pool.size() == 2);
    const auto first = pool.take();
    const auto second = pool.take();
    REQUIRE(first);
    REQUIRE(second);
    CHECK(pool.take() == nullptr);
    CHECK(pool.size() == 0);
    CHECK(pool.payload_bytes() == 0);
  }

  TEST_CASE("payload buffers beyond the byte budget are freed, the ops kept: 1 MiB buffers do not stay") {
    send_op_pool pool(64, 256 * 1024);
    for (int i = 0; i < 8; ++i) {
      pool.give_back(completed_op(pool_test_mib));
    }
    CHECK(pool.size() == 8);
    CHECK(pool.payload_bytes() <= 256 * 1024);
    std::size_t held = 0;
    while (auto op = pool.take()) {
      held += op->request.payload().capacity();
    }
    CHECK(held <= 256 * 1024 + 8 * 16);  // at most the budget, plus the empty strings' own bytes
    CHECK(pool.payload_bytes() == 0);

    // Small buffers stay within the budget and are reused as they are.
    send_op_pool small(64, 256 * 1024);
    auto op = completed_op(4096);
    const char* bytes = op->request.payload().data();
    small.give_back(std::move(op));
    CHECK(small.payload_bytes() >= 4096);
    const auto again = small.take();
    REQUIRE(again);
    CHECK(again->request.payload().empty());
    CHECK(again->request.payload().capacity() >= 4096);
    CHECK(again->request.payload().data() == bytes);
  }

  TEST_CASE("a reused op carries nothing of the previous message and holds nothing of its completion") {
    send_op_pool pool(4);
    auto op = completed_op(64);
    const auto token = std::make_shared<int>(1);
    op->complete = [token](const danube::result<danube::message_id>&) {};
    op->finish(danube::message_id{});
    CHECK(token.use_count() == 1);  // the completion went when it ran

    op->complete = [token](const danube::result<danube::message_id>&) {};  // never run: reset drops it
    op->outcome = danube::message_id{};
    op->state = send_op::stage::done;
    op->attempts = 3;
    op->sequence = 42;
    op->deadline = std::chrono::steady_clock::now();
    op->not_before = std::chrono::steady_clock::now();
    op->context.emplace();
    (*op->request.mutable_attributes())["k"] = "v";
    op->request.set_routing_key("key");
    op->request.set_schema_id(7);
    op->request.set_schema_version(2);
    pool.give_back(std::move(op));

    const auto reused = pool.take();
    REQUIRE(reused);
    CHECK(token.use_count() == 1);
    CHECK_FALSE(reused->complete);
    CHECK_FALSE(reused->outcome);
    CHECK(reused->state == send_op::stage::waiting);
    CHECK(reused->attempts == 0);
    CHECK(reused->sequence == 0);
    CHECK(reused->deadline == std::chrono::steady_clock::time_point{});
    CHECK(reused->not_before == std::chrono::steady_clock::time_point{});
    CHECK_FALSE(reused->context);
    CHECK_FALSE(reused->owner);
    CHECK(reused->request.attributes().empty());
    CHECK_FALSE(reused->request.has_routing_key());
    CHECK_FALSE(reused->request.has_schema_id());
    CHECK_FALSE(reused->request.has_schema_version());
    CHECK(reused->request.payload().empty());
  }

  TEST_CASE("an op dropped before its completion ran releases its pending slot, then completes once with closed") {
    const auto limiter = std::make_shared<danube::detail::pending_limiter>(1);
    REQUIRE(limiter->acquire(danube::queue_full_policy::fail, std::chrono::milliseconds(0)));
    CHECK_FALSE(limiter->acquire(danube::queue_full_policy::fail, std::chrono::milliseconds(0)));
    int calls = 0;
    bool slot_free_in_completion = false;
    {
      auto op = std::make_shared<send_op>(limiter);
      op->complete = [&](const danube::result<danube::message_id>& r) {
        ++calls;
        CHECK_FALSE(r);
        CHECK(r.error() == danube::errc::closed);
        // The slot is free before the completion runs: a completion may send again at once.
        slot_free_in_completion =
            limiter->acquire(danube::queue_full_policy::fail, std::chrono::milliseconds(0)).has_value();
      };
    }
    CHECK(calls == 1);
    CHECK(slot_free_in_completion);
  }
}
