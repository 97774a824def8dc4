// Everything a Danube application needs: client, producer, consumer, messages, errors, policies.
// The embedded test broker is separate: <danube/testing/embedded_broker.hpp>.
#pragma once

#include <danube/client.hpp>
#include <danube/consumer.hpp>
#include <danube/consumer_options.hpp>
#include <danube/error.hpp>
#include <danube/logging.hpp>
#include <danube/lookup.hpp>
#include <danube/message.hpp>
#include <danube/payload.hpp>
#include <danube/policies/auth.hpp>
#include <danube/policies/concepts.hpp>
#include <danube/policies/retry.hpp>
#include <danube/policies/routing.hpp>
#include <danube/policies/tls.hpp>
#include <danube/producer.hpp>
#include <danube/producer_options.hpp>
#include <danube/schema_registry.hpp>
#include <danube/schema_types.hpp>
#include <danube/serializer.hpp>
#include <danube/topic_name.hpp>
#include <danube/typed_consumer.hpp>
#include <danube/typed_producer.hpp>
#include <danube/version.hpp>
