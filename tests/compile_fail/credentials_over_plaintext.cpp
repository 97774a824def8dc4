// Must not compile: a bearer token over a plaintext channel without the explicit opt-in.
#include <danube/client.hpp>

int main() {
  auto client = danube::basic_client<danube::auth::static_token, danube::tls::plaintext>::builder()
                    .service_url("http://127.0.0.1:6650")
                    .auth(danube::auth::static_token("secret"))
                    .build();
  return client.has_value() ? 0 : 1;
}
