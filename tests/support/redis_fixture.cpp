#include "redis_fixture.hpp"

#include <exception>

namespace provbridge::test_support {

std::unique_ptr<ops::LocalRedis> RedisTest::redis_;
std::string RedisTest::start_error_;

void RedisTest::SetUpTestSuite() {
    start_error_.clear();
    try {
        redis_ = std::make_unique<ops::LocalRedis>();
    } catch (const std::exception& e) {
        // Reported by SetUp so every test of the suite fails with the reason.
        start_error_ = e.what();
        redis_.reset();
    }
}

void RedisTest::TearDownTestSuite() { redis_.reset(); }

void RedisTest::SetUp() {
    ASSERT_TRUE(redis_) << "redis-server did not start: " << start_error_;
}

consumers::RedisOptions redis_options_for_port(int port) {
    consumers::RedisOptions options;
    options.host = "127.0.0.1";
    options.port = port;
    options.timeout = std::chrono::milliseconds(2000);
    return options;
}

consumers::RedisOptions RedisTest::options() { return redis_options_for_port(redis_->port()); }

std::string RedisTest::key_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "t";
    if (info != nullptr) {
        name += std::string(info->test_suite_name()) + "_" + info->name();
    }
    return name;
}

}  // namespace provbridge::test_support
