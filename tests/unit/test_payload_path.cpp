// Payload bytes on their way to the wire and back: a moved-in payload is never copied, a viewed one
// is copied exactly once, and a received payload reaches the application without a copy. Checked
// by buffer identity (the same heap buffer travels), which is deterministic.
#include <danube/detail/message_access.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/receive_queue.hpp>
#include <danube/detail/topic_producer.hpp>
#include <danube/payload.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

namespace {

namespace wire = danube::detail::wire;
constexpr std::size_t one_mib = 1024 * 1024;

void fill_payload_only(wire::StreamMessage& request, danube::payload_arg payload) {
  danube::detail::fill_send_request(request, std::move(payload), std::nullopt, {}, std::nullopt);
}

}  // namespace

TEST_SUITE("payload path") {
  TEST_CASE("a moved-in payload becomes the request's payload buffer, in a new and in a reused request") {
    std::string payload(one_mib, 'm');
    const char* bytes = payload.data();
    wire::StreamMessage request;
    fill_payload_only(request, std::move(payload));
    CHECK(request.payload().data() == bytes);
    CHECK(request.payload().size() == one_mib);

    // A reused request (a pooled send_op's) gives up its old buffer for the moved-in one.
    std::string next(one_mib, 'n');
    const char* next_bytes = next.data();
    fill_payload_only(request, std::move(next));
    CHECK(request.payload().data() == next_bytes);
    CHECK(request.payload().front() == 'n');
  }

  TEST_CASE("a viewed payload is copied exactly once, into the request's own buffer, reused when large enough") {
    const std::string source(one_mib, 'v');
    wire::StreamMessage request;
    fill_payload_only(request, std::string_view(source));
    CHECK(request.payload().data() != source.data());
    CHECK(request.payload() == source);

    const char* buffer = request.payload().data();
    request.mutable_payload()->clear();  // what recycling a send_op does: the capacity stays
    const std::string smaller(one_mib / 2, 'w');
    fill_payload_only(request, std::as_bytes(std::span(smaller.data(), smaller.size())));
    CHECK(request.payload().data() == buffer);  // no allocation: copied into the kept buffer
    CHECK(request.payload() == smaller);
  }

  TEST_CASE("payload_arg::release_into moves an owned string and copies a view") {
    std::string owned(100, 'o');
    const char* owned_bytes = owned.data();
    std::string out;
    danube::payload_arg(std::move(owned)).release_into(out);
    CHECK(out.data() == owned_bytes);

    const std::string viewed(100, 'x');
    std::string copy;
    danube::payload_arg(viewed).release_into(copy);
    CHECK(copy == viewed);
    CHECK(copy.data() != viewed.data());
  }

  TEST_CASE("a received payload crosses the receive queue without a copy, in a single pop and in a batch") {
    danube::detail::receive_queue queue(4);
    struct never_paused final : danube::detail::paused_reader {
      void resume() override {}
    };
    const auto reader = std::make_shared<never_paused>();
    const auto read = [](char fill_with) {
      wire::StreamMessage incoming;
      incoming.set_payload(std::string(one_mib, fill_with));
      return danube::message_access::from_wire(incoming, "sub");
    };
    auto first = read('q');
    const char* bytes = first.payload_string().data();
    REQUIRE(queue.push(std::move(first), reader));
    auto m = queue.pop(std::chrono::milliseconds(0));
    REQUIRE(m);
    CHECK(m->payload_string().data() == bytes);
    auto second = read('s');
    const char* second_bytes = second.payload_string().data();
    REQUIRE(queue.push(std::move(second), reader));
    std::vector<danube::message> batch;
    REQUIRE(queue.pop_batch(batch, 10, std::chrono::milliseconds(0)));
    REQUIRE(batch.size() == 1);
    CHECK(batch.front().payload_string().data() == second_bytes);
  }

  TEST_CASE("a received payload reaches the application without a copy") {
    wire::StreamMessage incoming;
    incoming.set_payload(std::string(one_mib, 'r'));
    incoming.mutable_msg_id()->set_topic_name("/default/t");
    const char* bytes = incoming.payload().data();
    auto m = danube::message_access::from_wire(incoming, "sub");
    CHECK(static_cast<const void*>(m.payload().data()) == static_cast<const void*>(bytes));
    CHECK(m.payload_string().data() == bytes);
    const auto taken = m.take_payload();
    CHECK(taken.data() == bytes);
    CHECK(taken.size() == one_mib);
  }
}
