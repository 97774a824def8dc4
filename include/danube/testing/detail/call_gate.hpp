// What every call of the embedded broker passes before its handler runs: it is counted, injected
// failures and hangs are applied, and it is authenticated (AuthService excepted, as upstream).
// Unary calls go through answer() in unary_answer.hpp, ReceiveMessages through admit_stream().
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/broker_options.hpp>
#include <danube/testing/detail/authenticator.hpp>
#include <danube/testing/detail/deferred_answers.hpp>
#include <danube/testing/detail/faults.hpp>
#include <danube/testing/rpc.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

namespace wire = ::danube::detail::wire;

class call_gate {
 public:
  explicit call_gate(broker_auth auth) : auth_(std::move(auth)) {}

  // What happens to one call, decided before its handler runs.
  struct admission {
    std::optional<grpc::Status> refusal;  // answer this instead of running the handler
    bool hang = false;                    // never answer (the client's deadline or stop() ends it)
    std::chrono::milliseconds delay{0};   // hold the answer back this long
  };

  // In order: count the call, an injected failure, an injected hang, authentication.
  [[nodiscard]] admission admit(rpc method, const grpc::ServerContextBase& context) {
    admission out;
    faults_.count(method);
    out.delay = faults_.delay(method);
    if (auto failure = faults_.take_failure(method)) {
      out.refusal = std::move(failure);
      return out;
    }
    if (faults_.never_answer(method)) {
      out.hang = true;
      return out;
    }
    if (method != rpc::authenticate) {
      out.refusal = auth_.check(context);
    }
    return out;
  }

  // The same for a server stream, where only counting, injected failures and authentication
  // apply: the refusal status, or std::nullopt to open the stream.
  [[nodiscard]] std::optional<grpc::Status> admit_stream(rpc method, const grpc::ServerContextBase& context) {
    faults_.count(method);
    if (auto failure = faults_.take_failure(method)) {
      return failure;
    }
    return auth_.check(context);
  }

  [[nodiscard]] fault_table& faults() noexcept { return faults_; }
  [[nodiscard]] const fault_table& faults() const noexcept { return faults_; }
  [[nodiscard]] deferred_answers& deferred() noexcept { return deferred_; }

  // Answers every held-back call (UNAVAILABLE) and holds no more: part of stopping the broker.
  void close() { deferred_.close(); }

 private:
  fault_table faults_;
  authenticator auth_;
  deferred_answers deferred_;
};

// A ReceiveMessages call refused before it opened: finishes at once with the refusal.
class refused_stream final : public grpc::ServerWriteReactor<wire::StreamMessage> {
  struct private_tag {};

 public:
  explicit refused_stream(private_tag /*unused*/) {}

  [[nodiscard]] static grpc::ServerWriteReactor<wire::StreamMessage>* open(grpc::Status status) {
    auto stream = std::make_shared<refused_stream>(private_tag{});
    stream->self_ = stream;
    stream->Finish(std::move(status));
    return stream.get();
  }

  void OnDone() override {
    const std::shared_ptr<refused_stream> last = std::move(self_);
    // *this is destroyed with `last`.
  }

 private:
  std::shared_ptr<refused_stream> self_;
};

}  // namespace danube::testing::detail
