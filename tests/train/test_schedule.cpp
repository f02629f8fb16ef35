// Learning-rate schedules against transformers' get_scheduler + torch LambdaLR (tests/fixtures/train/
// schedules.json, from scripts/fixtures/make_train_fixtures.py), plus the argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "train/schedule.h"
#include "util/test_util.h"

namespace vlm::train {
namespace {

std::string error_of(const ScheduleConfig& config) {
  try {
    lr_at(config, 0);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "config accepted";
  return "";
}

ScheduleConfig config(ScheduleKind kind, int64_t warmup, int64_t total, double lr = 1e-4) {
  ScheduleConfig c;
  c.kind = kind;
  c.warmup_steps = warmup;
  c.total_steps = total;
  c.lr = lr;
  return c;
}

TEST(Schedule, MatchesTransformersGoldens) {
  const std::string path = vlm::test::fixture("train/schedules.json");
  if (!path_exists(path))
    GTEST_SKIP() << "missing fixture " << path << " (scripts/fixtures/make_train_fixtures.py)";
  const Json golden = read_json_file(path);
  ASSERT_GE(golden.at("cases").size(), 6u);
  for (const Json& c : golden.at("cases")) {
    const ScheduleConfig cfg =
        config(parse_schedule_kind(c.at("kind").get<std::string>()), c.at("warmup_steps").get<int64_t>(),
               c.at("total_steps").get<int64_t>(), c.at("lr").get<double>());
    const Json& lrs = c.at("lrs");
    ASSERT_GT(lrs.size(), 0u);
    for (size_t k = 0; k < lrs.size(); ++k) {
      const double want = lrs[k].get<double>();
      const double got = lr_at(cfg, static_cast<int64_t>(k));
      EXPECT_LE(std::fabs(got - want), 1e-12 * std::fabs(want))
          << c.at("scheduler").get<std::string>() << " warmup " << cfg.warmup_steps << " total "
          << cfg.total_steps << " step " << k << ": got " << got << ", transformers " << want;
    }
  }
}

TEST(Schedule, ParsesKindNames) {
  EXPECT_EQ(parse_schedule_kind("constant"), ScheduleKind::kConstant);
  EXPECT_EQ(parse_schedule_kind("linear"), ScheduleKind::kLinear);
  EXPECT_EQ(parse_schedule_kind("cosine"), ScheduleKind::kCosine);
  for (ScheduleKind k : {ScheduleKind::kConstant, ScheduleKind::kLinear, ScheduleKind::kCosine})
    EXPECT_EQ(parse_schedule_kind(schedule_kind_name(k)), k);
  try {
    parse_schedule_kind("cosine_with_restarts");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("--lr-schedule: expected \"constant\", \"linear\" or \"cosine\", got "
                                   "\"cosine_with_restarts\""),
        std::string::npos)
        << e.what();
  }
}

TEST(Schedule, RejectsBadConfigs) {
  EXPECT_NE(error_of(config(ScheduleKind::kLinear, 11, 10)).find("warmup steps: 11 is more than the 10"),
            std::string::npos);
  EXPECT_NE(error_of(config(ScheduleKind::kCosine, 0, 0)).find("total steps: the cosine schedule needs"),
            std::string::npos);
  EXPECT_NE(error_of(config(ScheduleKind::kLinear, 0, -3)).find("total steps: expected >= 0"),
            std::string::npos);
  EXPECT_NE(error_of(config(ScheduleKind::kConstant, -1, 10)).find("warmup steps: expected >= 0"),
            std::string::npos);
  EXPECT_NE(
      error_of(config(ScheduleKind::kConstant, 0, 10, -1e-4)).find("learning rate: expected a finite number"),
      std::string::npos);
  EXPECT_NE(error_of(config(ScheduleKind::kConstant, 0, 10, std::nan(""))).find("learning rate"),
            std::string::npos);
  EXPECT_THROW(lr_at(config(ScheduleKind::kConstant, 0, 10), -1), Error);
}

TEST(Schedule, ConstantNeedsNoTotalAndWarmupMayExceedIt) {
  // constant_with_warmup never reads num_training_steps.
  EXPECT_NO_THROW(lr_at(config(ScheduleKind::kConstant, 3, 0), 5));
  EXPECT_NO_THROW(lr_at(config(ScheduleKind::kConstant, 20, 10), 5));
}

TEST(Schedule, ShapeProperties) {
  // Properties that hold for any correct implementation (the goldens above pin the values).
  for (ScheduleKind kind : {ScheduleKind::kConstant, ScheduleKind::kLinear, ScheduleKind::kCosine}) {
    const ScheduleConfig c = config(kind, 4, 20, 3e-4);
    EXPECT_EQ(lr_at(c, 0), 0.0) << schedule_kind_name(kind);  // warmup starts from zero
    for (int64_t k = 1; k < 4; ++k) EXPECT_GT(lr_at(c, k), lr_at(c, k - 1)) << schedule_kind_name(kind);
    EXPECT_DOUBLE_EQ(lr_at(c, 4), 3e-4) << schedule_kind_name(kind);  // the peak right after warmup
    for (int64_t k = 5; k < 20; ++k) EXPECT_LE(lr_at(c, k), lr_at(c, k - 1)) << schedule_kind_name(kind);
  }
  EXPECT_EQ(lr_at(config(ScheduleKind::kLinear, 4, 20), 20), 0.0);
  EXPECT_EQ(lr_at(config(ScheduleKind::kLinear, 4, 20), 25), 0.0);
}

}  // namespace
}  // namespace vlm::train
