#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/local_services.hpp"

namespace provbridge::test_support {

// Starts a throwaway redis-server (ops::LocalRedis) once per test suite. Tests share it, so
// each one works under its own key prefix and app id (see key_prefix()/app()). Derive a
// suite from it: `class MyTest : public RedisTest {};`.
class RedisTest : public ::testing::Test {
protected:
    static void SetUpTestSuite();
    static void TearDownTestSuite();
    void SetUp() override;

    static ops::LocalRedis& redis() { return *redis_; }
    // Options for a connection to the suite's server (2 s timeout, no password).
    static consumers::RedisOptions options();

    // "t<suite>_<test>": distinct per test, so keys never collide between tests.
    static std::string key_prefix();
    static KeyScheme keys() { return KeyScheme(key_prefix()); }
    // An app id with characters that need care ({, }, :, space are not among them).
    static std::string app() { return "app-" + key_prefix(); }

private:
    static std::unique_ptr<ops::LocalRedis> redis_;
    static std::string start_error_;
};

// Options for a connection to any LocalRedis-like server on 127.0.0.1:<port>.
consumers::RedisOptions redis_options_for_port(int port);

}  // namespace provbridge::test_support
