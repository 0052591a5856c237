#include "kafka_inspect.hpp"

#include <numeric>
#include <stdexcept>

#include "provbridge/producers/kafka.hpp"

namespace provbridge::test_support {

std::int64_t GroupPosition::committed_total() const {
    return std::accumulate(committed.begin(), committed.end(), std::int64_t{0});
}

std::int64_t GroupPosition::end_total() const { return std::accumulate(end.begin(), end.end(), std::int64_t{0}); }

GroupPosition group_position(const std::string& bootstrap, const std::string& group, const std::string& topic,
                             int partitions) {
    auto conf = producers::make_conf({{"bootstrap.servers", bootstrap}, {"group.id", group}});
    char err[512];
    producers::KafkaHandlePtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf.release(), err, sizeof err));
    if (!rk) throw std::runtime_error(err);
    producers::TopicPartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    if (const auto e = rd_kafka_committed(rk.get(), list.get(), 10000); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error(std::string("committed: ") + rd_kafka_err2str(e));
    }
    GroupPosition pos;
    for (int p = 0; p < partitions; ++p) {
        const auto offset = list->elems[p].offset;
        pos.committed.push_back(offset < 0 ? 0 : offset);
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (const auto e = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high, 10000);
            e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            throw std::runtime_error(std::string("watermarks: ") + rd_kafka_err2str(e));
        }
        pos.end.push_back(high);
        pos.start.push_back(low);
    }
    return pos;
}

}  // namespace provbridge::test_support
