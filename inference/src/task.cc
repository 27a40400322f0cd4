#include "evax/inference/task.h"

#include <array>

namespace evax::inference {
namespace {

const std::array<TaskInfo, 5>& tasks() {
  static const std::array<TaskInfo, 5> table{{
      {Task::cxr14, "cxr14", "ChestX-ray14", Activation::sigmoid, 224,
       {"Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
        "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
        "Hernia"}},
      {Task::chexpert, "chexpert", "CheXpert", Activation::sigmoid, 224,
       {"Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"}},
      {Task::covidx3, "covidx3", "COVIDx-3", Activation::softmax, 480,
       {"normal", "pneumonia", "COVID-19"}},
      {Task::covidx4, "covidx4", "COVIDx-4", Activation::softmax, 480, {"negative", "positive"}},
      {Task::features, "features", "backbone features", Activation::none, 224, {}},
  }};
  return table;
}

}  // namespace

const TaskInfo& task_info(Task task) { return tasks()[static_cast<std::size_t>(task)]; }

std::optional<Task> parse_task(std::string_view name) {
  for (const auto& info : tasks())
    if (info.name == name) return info.task;
  return std::nullopt;
}

std::optional<Task> task_for_class_count(int classes) {
  for (const auto& info : tasks())
    if (static_cast<int>(info.labels.size()) == classes) return info.task;
  return std::nullopt;
}

std::string task_names() {
  std::string names;
  for (const auto& info : tasks()) {
    if (!names.empty()) names += '|';
    names += info.name;
  }
  return names;
}

}  // namespace evax::inference
