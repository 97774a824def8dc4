// Compile-cost probe (bench/compile_cost.sh): the yardstick. A file that includes only
// <grpcpp/grpcpp.h> and makes a channel, as any gRPC client's file does. Compiled, never run.
#include <grpcpp/grpcpp.h>

int main() {
  auto channel = grpc::CreateChannel("127.0.0.1:6650", grpc::InsecureChannelCredentials());
  return channel ? 0 : 1;
}
