// Task: what a model's head predicts (the EVA-X fine-tunes), with its labels and activation.
// Immutable tables; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evax::inference {

enum class Task { cxr14, chexpert, covidx3, covidx4, features };
enum class Activation { sigmoid, softmax, none };

struct TaskInfo {
  Task task;
  std::string_view name;          // as on the command line: "cxr14", "chexpert", ...
  std::string_view title;         // for people: "ChestX-ray14"
  Activation activation;
  int default_input_size;         // the resolution the published fine-tune was trained at
  std::vector<std::string_view> labels;  // in head order; empty for features
};

const TaskInfo& task_info(Task task);
std::optional<Task> parse_task(std::string_view name);
// The published task whose head has this many outputs (14, 5, 3, 2; 0 = features).
std::optional<Task> task_for_class_count(int classes);
std::string task_names();  // "cxr14|chexpert|covidx3|covidx4|features", for help texts

}  // namespace evax::inference
