// A client at namespace scope is destroyed (and closes) after main() returns, during static
// destruction. Its channels then go to the channel reaper, which must still exist: another client
// made (and closed) in main() created the reaper after this client, so a reaper created on first
// use would already be destroyed by then. Exits 0 when all is well.
#include <danube/client.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace {

danube::client make_client() {
  using namespace std::chrono_literals;
  // Nothing listens on port 1: calls fail fast, but the client still creates a channel.
  auto client =
      danube::client::builder().service_url("http://127.0.0.1:1").connect_timeout(200ms).call_timeout(200ms).build();
  if (!client) {
    std::fputs("could not build a client\n", stderr);
    std::exit(2);
  }
  return std::move(*client);
}

danube::client at_namespace_scope = make_client();

}  // namespace

int main() {
  {
    auto local = make_client();
    (void)local.lookup_topic("/default/static-exit");
    local.close();  // hands its channel to the reaper
  }
  (void)at_namespace_scope.lookup_topic("/default/static-exit");  // a channel to retire at exit
  return 0;
}
