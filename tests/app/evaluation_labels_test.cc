// The label files `evaluate` reads, on excerpts in the real formats (written here, not
// downloaded), the score cache that makes it resumable, and how it finds images in a folder.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "evaluation_images.h"
#include "evaluation_labels.h"
#include "score_cache.h"

namespace evax::app {
namespace {

namespace fs = std::filesystem;
using Truth = std::vector<std::optional<int>>;

// Data_Entry_2017.csv as NIH publishes it: the header's unquoted commas inside
// "OriginalImage[Width,Height]", a trailing comma, multi-label rows and "No Finding".
constexpr const char* kDataEntry =
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\r\n"
    "00000001_000.png,Cardiomegaly,0,1,58,M,PA,2682,2749,0.143,0.143\r\n"
    "00000001_001.png,Cardiomegaly|Emphysema,1,1,58,M,PA,2894,2729,0.143,0.143\r\n"
    "00000001_002.png,Cardiomegaly|Effusion,2,1,58,M,PA,2500,2048,0.168,0.168\r\n"
    "00000002_000.png,No Finding,0,2,81,M,PA,2500,2048,0.171,0.171\r\n"
    "00000003_000.png,Hernia,0,3,81,F,PA,2582,2991,0.143,0.143\r\n"
    "00000013_005.png,Emphysema|Infiltration|Pleural_Thickening|Pneumothorax,5,13,60,M,AP,3056,2544,0.139,0.139\r\n";

// CheXpert's header; valid.csv's 1.0/0.0 row, and train.csv-style rows with blanks and -1.0.
constexpr const char* kChexpert =
    "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Opacity,"
    "Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,Fracture,"
    "Support Devices\n"
    "CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg,Male,73,Frontal,AP,0.0,1.0,1.0,1.0,0.0,0.0,0.0,"
    "0.0,0.0,0.0,0.0,0.0,0.0,0.0\n"
    "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0\n"
    "CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg,Female,87,Frontal,AP,,,-1.0,1.0,,-1.0,-1.0,,"
    "-1.0,,-1.0,,1.0,\n";

std::size_t index_of(const LabelTable& table, const std::string& label) {
  return static_cast<std::size_t>(std::find(table.labels.begin(), table.labels.end(), label) - table.labels.begin());
}

TEST(Cxr14Labels, MultiLabelRowsAndNoFindingBecomeFourteenZeroOneColumns) {
  auto table = parse_cxr14_labels(kDataEntry, std::nullopt);
  ASSERT_TRUE(table) << table.error();
  ASSERT_EQ(table->labels.size(), 14u);
  EXPECT_EQ(table->labels[2], "Effusion");
  EXPECT_EQ(table->labels[12], "Pleural_Thickening");
  ASSERT_EQ(table->images.size(), 6u);
  EXPECT_EQ(table->images[0].key, "00000001_000.png");
  auto positives = [&](std::size_t row) {
    std::vector<std::string> names;
    for (std::size_t c = 0; c < 14; ++c) {
      EXPECT_TRUE(table->images[row].truth[c].has_value());  // every CXR14 label is known: 0 or 1
      if (table->images[row].truth[c] == 1) names.push_back(table->labels[c]);
    }
    return names;
  };
  EXPECT_EQ(positives(0), (std::vector<std::string>{"Cardiomegaly"}));
  EXPECT_EQ(positives(2), (std::vector<std::string>{"Cardiomegaly", "Effusion"}));
  EXPECT_TRUE(positives(3).empty());  // No Finding: negative for all 14
  EXPECT_EQ(positives(4), (std::vector<std::string>{"Hernia"}));
  EXPECT_EQ(positives(5), (std::vector<std::string>{"Infiltration", "Pneumothorax", "Emphysema", "Pleural_Thickening"}));
}

TEST(Cxr14Labels, TheTestListSelectsItsImagesInItsOrder) {
  auto table = parse_cxr14_labels(kDataEntry, std::string_view("00000003_000.png\n00000001_002.png\n\n"));
  ASSERT_TRUE(table) << table.error();
  ASSERT_EQ(table->images.size(), 2u);
  EXPECT_EQ(table->images[0].key, "00000003_000.png");
  EXPECT_EQ(table->images[1].key, "00000001_002.png");
  EXPECT_EQ(table->images[1].truth[index_of(*table, "Effusion")], 1);

  auto missing = parse_cxr14_labels(kDataEntry, std::string_view("00000003_000.png\n00009999_000.png\n"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("test list line 2: 00009999_000.png has no row"), std::string::npos) << missing.error();
}

TEST(Cxr14Labels, BadRowsAreRefusedNamingTheLine) {
  const std::string header = "Image Index,Finding Labels,Follow-up #\n";
  auto unknown = parse_cxr14_labels(header + "a.png,Cardiomegaly,0\nb.png,Cardiomegally,0\n", std::nullopt);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error(), "line 3: \"Cardiomegally\" is not a ChestX-ray14 finding");
  auto mixed = parse_cxr14_labels(header + "a.png,No Finding|Mass,0\n", std::nullopt);
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().find("line 2: \"No Finding\" together with findings"), std::string::npos);
  auto twice = parse_cxr14_labels(header + "a.png,Mass,0\na.png,Nodule,0\n", std::nullopt);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error(), "line 3: a.png has a row already");
  auto not_cxr14 = parse_cxr14_labels("Path,Cardiomegaly\nx.jpg,1\n", std::nullopt);
  ASSERT_FALSE(not_cxr14);
  EXPECT_NE(not_cxr14.error().find("not a Data_Entry_2017.csv"), std::string::npos);
}

TEST(ChexpertLabels, UncertainByPolicyAndBlankAsNegative) {
  auto ones = parse_chexpert_labels(kChexpert, UncertainPolicy::ones);
  ASSERT_TRUE(ones) << ones.error();
  ASSERT_EQ(ones->labels.size(), 14u);
  ASSERT_EQ(ones->images.size(), 3u);
  EXPECT_EQ(ones->uncertain, 5);
  const std::size_t atelectasis = index_of(*ones, "Atelectasis"), cardiomegaly = index_of(*ones, "Cardiomegaly"),
                    edema = index_of(*ones, "Edema"), effusion = index_of(*ones, "Pleural Effusion"),
                    opacity = index_of(*ones, "Lung Opacity"), devices = index_of(*ones, "Support Devices");
  // valid.csv row: 1.0 / 0.0.
  EXPECT_EQ(ones->images[0].truth[cardiomegaly], 1);
  EXPECT_EQ(ones->images[0].truth[edema], 0);
  // Blank: not mentioned in the report, negative.
  EXPECT_EQ(ones->images[1].truth[cardiomegaly], 0);
  EXPECT_EQ(ones->images[1].truth[devices], 1);
  // -1.0: uncertain, U-Ones.
  for (std::size_t c : {cardiomegaly, edema, atelectasis, effusion}) EXPECT_EQ(ones->images[2].truth[c], 1);
  EXPECT_EQ(ones->images[2].truth[opacity], 1);

  auto zeros = parse_chexpert_labels(kChexpert, UncertainPolicy::zeros);
  ASSERT_TRUE(zeros);
  for (std::size_t c : {cardiomegaly, edema, atelectasis, effusion}) EXPECT_EQ(zeros->images[2].truth[c], 0);
  auto ignore = parse_chexpert_labels(kChexpert, UncertainPolicy::ignore);
  ASSERT_TRUE(ignore);
  for (std::size_t c : {cardiomegaly, edema, atelectasis, effusion}) EXPECT_FALSE(ignore->images[2].truth[c].has_value());
  EXPECT_EQ(ignore->images[2].truth[opacity], 1);
  EXPECT_EQ(ignore->images[1].truth[cardiomegaly], 0);  // blank stays negative whatever the policy
}

TEST(ChexpertLabels, AValueOtherThanOneZeroMinusOneOrBlankIsRefused) {
  const std::string csv = "Path,Cardiomegaly,Edema\nx/view1_frontal.jpg,1.0,0.5\n";
  auto table = parse_chexpert_labels(csv, UncertainPolicy::ones);
  ASSERT_FALSE(table);
  EXPECT_EQ(table.error(), "line 2: Edema: '0.5' is not 1, 0, -1 or blank");
  EXPECT_FALSE(parse_chexpert_labels("Image,Edema\na,1\n", UncertainPolicy::ones));
}

TEST(PlainLabels, FileOrSopInstanceUidThenZeroOneColumns) {
  auto files = parse_plain_labels("file,Effusion,\"Pleural Effusion, left\"\na.png,1,0\n\"b,c.png\",0,\n");
  ASSERT_TRUE(files) << files.error();
  EXPECT_EQ(files->key_kind, LabelTable::KeyKind::file);
  EXPECT_EQ(files->labels, (std::vector<std::string>{"Effusion", "Pleural Effusion, left"}));
  EXPECT_EQ(files->images[1].key, "b,c.png");
  EXPECT_EQ(files->images[0].truth, (Truth{1, 0}));
  EXPECT_EQ(files->images[1].truth, (Truth{0, std::nullopt}));  // blank: not labelled

  auto uids = parse_plain_labels("sop_instance_uid,Cardiomegaly\n1.2.3.4,1\n");
  ASSERT_TRUE(uids);
  EXPECT_EQ(uids->key_kind, LabelTable::KeyKind::sop_instance_uid);

  EXPECT_EQ(parse_plain_labels("image,Mass\na,1\n").error(), "line 1: the first column must be \"file\" or \"sop_instance_uid\", not \"image\"");
  EXPECT_EQ(parse_plain_labels("file,Mass\na,-1\n").error(), "line 2: Mass: '-1' is not 1, 0 or blank");
  EXPECT_EQ(parse_plain_labels("file,Mass\na,1\na,0\n").error(), "line 3: a has a row already");
  EXPECT_EQ(parse_plain_labels("file,Mass\na,1,0\n").error(), "line 2: 3 columns, the header has 2");
}

TEST(LabelMapping, DatasetNamesMeetTheHeadsLabelsAndTheRestIsReported) {
  // ChestX-ray14's labels against the CheXpert head: Effusion is CheXpert's Pleural Effusion.
  auto cxr14 = parse_cxr14_labels(kDataEntry, std::nullopt);
  const std::vector<std::string> chexpert_head{"Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"};
  const LabelMapping to_chexpert = map_labels(cxr14->labels, chexpert_head);
  EXPECT_EQ(to_chexpert.column_of_model_label[4], index_of(*cxr14, "Effusion"));
  EXPECT_EQ(to_chexpert.column_of_model_label[0], index_of(*cxr14, "Atelectasis"));
  EXPECT_TRUE(to_chexpert.model_only.empty());
  EXPECT_EQ(to_chexpert.dataset_only.size(), 9u);

  // CheXpert's labels against the ChestX-ray14 head: 5 shared, "No Finding" and others skipped.
  auto chexpert = parse_chexpert_labels(kChexpert, UncertainPolicy::ones);
  const std::vector<std::string> cxr14_head(cxr14->labels.begin(), cxr14->labels.end());
  const LabelMapping to_cxr14 = map_labels(chexpert->labels, cxr14_head);
  EXPECT_EQ(to_cxr14.column_of_model_label[2], index_of(*chexpert, "Pleural Effusion"));
  EXPECT_EQ(to_cxr14.column_of_model_label[6], index_of(*chexpert, "Pneumonia"));
  EXPECT_NE(std::find(to_cxr14.dataset_only.begin(), to_cxr14.dataset_only.end(), "No Finding"), to_cxr14.dataset_only.end());
  EXPECT_NE(std::find(to_cxr14.model_only.begin(), to_cxr14.model_only.end(), "Hernia"), to_cxr14.model_only.end());
  // Case, spaces and underscores do not matter.
  EXPECT_EQ(map_labels({"pleural thickening"}, {"Pleural_Thickening"}).column_of_model_label[0], 0u);
}

class Folder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("evax_eval_labels_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void touch(const fs::path& relative, const std::string& content = "x") {
    fs::create_directories((dir_ / relative).parent_path());
    std::ofstream(dir_ / relative) << content;
  }
  fs::path dir_;
};

const std::string kA(64, 'a'), kB(64, 'b');

TEST_F(Folder, ScoreCacheKeepsExactScoresAcrossReopeningAndCutsATornRecord) {
  {
    auto cache = ScoreCache::open((dir_ / "cache").string(), "demo:tiny task cxr14", 2);
    ASSERT_TRUE(cache) << cache.error();
    cache->add(kA, {0.1, 1.0 / 3.0});
    ASSERT_TRUE(cache->flush());
  }
  const std::string path = (dir_ / "cache" / score_cache_file_name("demo:tiny task cxr14")).string();
  std::ofstream(path, std::ios::app) << kB << " 0.25";  // a record torn by kill -9 mid-write
  {
    auto cache = ScoreCache::open((dir_ / "cache").string(), "demo:tiny task cxr14", 2);
    ASSERT_TRUE(cache) << cache.error();
    EXPECT_EQ(cache->size(), 1u);
    EXPECT_EQ(cache->find(kA), (std::vector<double>{0.1, 1.0 / 3.0}));  // bit for bit
    EXPECT_FALSE(cache->find(kB));
    cache->add(kB, {0.5, 0.75});
    cache->add(kB, {0.9, 0.9});  // known: not written twice
  }  // the destructor flushes
  auto cache = ScoreCache::open((dir_ / "cache").string(), "demo:tiny task cxr14", 2);
  ASSERT_TRUE(cache) << cache.error();
  EXPECT_EQ(cache->size(), 2u);
  EXPECT_EQ(cache->find(kB), (std::vector<double>{0.5, 0.75}));
  std::ifstream in(path);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 3);  // header and two records

  // Another model has its own file; another label count for the same model is refused.
  auto other = ScoreCache::open((dir_ / "cache").string(), "sha256:0123 task cxr14", 2);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->size(), 0u);
  EXPECT_FALSE(ScoreCache::open((dir_ / "cache").string(), "demo:tiny task cxr14", 3));
}

TEST_F(Folder, ADamagedCacheRecordIsAnErrorNotAGuess) {
  { ASSERT_TRUE(ScoreCache::open((dir_ / "cache").string(), "m", 1)); }
  const std::string path = (dir_ / "cache" / score_cache_file_name("m")).string();
  std::ofstream(path, std::ios::app) << kA << " 0.5\n" << "garbage\n" << kB << " 0.5\n";
  auto cache = ScoreCache::open((dir_ / "cache").string(), "m", 1);
  ASSERT_FALSE(cache);
  EXPECT_NE(cache.error().find("line 3 is damaged"), std::string::npos) << cache.error();
}

TEST_F(Folder, ImagesAreFoundByPathByNameBelowAndWithPngOrDcmForTheirExtension) {
  touch("images_001/images/00000001_000.png");
  touch("images_002/images/00000002_000.png");
  touch("valid/patient64541/study1/view1_frontal.png");  // CheXpert's JPEG converted to PNG
  touch("b/c.dcm");
  auto files = find_image_files(dir_.string(), {"00000001_000.png", "00000002_000.png",
                                                "CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg", "b/c.dcm"});
  ASSERT_TRUE(files) << files.error();
  EXPECT_EQ((*files)[0], (dir_ / "images_001/images/00000001_000.png").string());
  EXPECT_EQ((*files)[1], (dir_ / "images_002/images/00000002_000.png").string());
  EXPECT_EQ((*files)[2], (dir_ / "valid/patient64541/study1/view1_frontal.png").string());
  EXPECT_EQ((*files)[3], (dir_ / "b/c.dcm").string());

  auto missing = find_image_files(dir_.string(), {"00000001_000.png", "nowhere.png", "x/y.png"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("for 2 of 3 labelled images: nowhere.png, x/y.png"), std::string::npos) << missing.error();
  touch("again/00000001_000.png");
  auto ambiguous = find_image_files(dir_.string(), {"00000001_000.png"});
  ASSERT_FALSE(ambiguous);
  EXPECT_NE(ambiguous.error().find("matches 2 files"), std::string::npos);
}

}  // namespace
}  // namespace evax::app
