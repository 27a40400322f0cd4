// The status page the node serves at `/` (admin/web/), rendered by Debian's headless Chromium
// against a real node that has analysed examples/synthetic_chest_pa.dcm and delivered its
// results: the job, its findings, lungs and Secondary Capture thumbnail, the node's health and
// its destination, with the right token; only the token form without one or with a wrong one.
//
// Chromium runs headless and off the network (no sync, updates, metrics or name resolution;
// only 127.0.0.1 resolves) with a profile in the test's directory. The DOM is read after 15 s
// of virtual time (three refreshes of the page). The screenshot of the loaded page is the
// README's docs/images/status-page.png: run with
//   EVAX_UPDATE_SCREENSHOT=$PWD/docs/images/status-page.png build/tests/service/evax_service_tests --gtest_filter='StatusPage*'
// to refresh it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <utility>

#include "destination.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kChest = std::string(EVAX_SOURCE_DIR) + "/examples/synthetic_chest_pa.dcm";
const std::string kChromium = "/usr/bin/chromium";
const std::string kReadToken = "read-token-123";
// printf %s read-token-123 | sha256sum
const std::string kReadTokenSha256 = "5ab9450db49b9e40af821c3bbc1080fb4dd00454f57e8fe1da6f7ab89ad943a0";
const std::string kDemoBadge = "DEMO MODEL - UNTRAINED WEIGHTS";

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Text as Chromium's DOM serialisation writes it inside an element.
std::string html_text(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

// The element that opens with the tag holding `marker` (an attribute), up to `end`; empty if
// there is none.
std::string element_at(const std::string& dom, const std::string& marker, const std::string& end) {
  const std::size_t at = dom.find(marker);
  if (at == std::string::npos) return "";
  const std::size_t open = dom.rfind('<', at);
  const std::size_t close = dom.find(end, at);
  if (open == std::string::npos || close == std::string::npos) return "";
  return dom.substr(open, close + end.size() - open);
}

std::string opening_tag(const std::string& dom, const std::string& marker) { return element_at(dom, marker, ">"); }
std::string section(const std::string& dom, const std::string& id) {
  return element_at(dom, "id=\"" + id + "\"", "</section>");
}

bool has_attribute(const std::string& tag, const std::string& name) {
  return tag.find(" " + name + "=") != std::string::npos || tag.find(" " + name + ">") != std::string::npos ||
         tag.find(" " + name + " ") != std::string::npos;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (std::size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++count;
  return count;
}

// The text of the first element after `marker` in `html` (up to its next tag).
std::string text_after(const std::string& html, const std::string& marker) {
  const std::size_t at = html.find(marker);
  if (at == std::string::npos) return "<none>";
  const std::size_t start = html.find('>', at) + 1;
  return html.substr(start, html.find('<', start) - start);
}

// Each <li class="finding"> of `html` as (label, probability text).
std::vector<std::pair<std::string, std::string>> rendered_findings(const std::string& html) {
  std::vector<std::pair<std::string, std::string>> findings;
  const std::string open = "<li class=\"finding\">";
  for (std::size_t at = 0; (at = html.find(open, at)) != std::string::npos; at += open.size()) {
    const std::string item = html.substr(at, html.find("</li>", at) - at);
    findings.emplace_back(text_after(item, "class=\"finding-label\""), text_after(item, "class=\"finding-probability\""));
  }
  return findings;
}

// What the page must show for `job` (from `evax-node status`): per analysed image its six most
// probable findings, highest first, probabilities to 2 decimals.
std::vector<std::pair<std::string, std::string>> expected_findings(const json& job) {
  std::vector<std::pair<std::string, std::string>> expected;
  for (const auto& image : job["images"]) {
    if (image["decision"] != "analysed") continue;
    std::vector<json> findings(image["findings"].begin(), image["findings"].end());
    std::stable_sort(findings.begin(), findings.end(), [](const json& a, const json& b) {
      return a["probability"].get<double>() > b["probability"].get<double>();
    });
    for (std::size_t i = 0; i < findings.size() && i < 6; ++i) {
      char probability[32];
      std::snprintf(probability, sizeof probability, "%.2f", findings[i]["probability"].get<double>());
      expected.emplace_back(findings[i]["label"].get<std::string>(), probability);
    }
  }
  return expected;
}

// PNG width and height from its IHDR chunk; {0, 0} if `file` is not a PNG.
std::pair<int, int> png_size(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char header[24] = {};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (!in || !std::equal(signature, signature + 8, header)) return {0, 0};
  auto be32 = [&](int at) { return (header[at] << 24) | (header[at + 1] << 16) | (header[at + 2] << 8) | header[at + 3]; };
  return {be32(16), be32(20)};
}

// One node for the suite: it has analysed and delivered the example study.
struct Shared {
  std::unique_ptr<NodeHarness> node;
  std::unique_ptr<Destination> pacs;
  int http_port = 0;
  json job;  // the example's job as `evax-node status` reports it
  std::string error;
  int chromium_runs = 0;
};

class StatusPage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = new Shared;
    if (!fs::exists(kChromium)) return;
    try {
      shared_->node = std::make_unique<NodeHarness>();
      NodeHarness& node = *shared_->node;
      shared_->pacs = std::make_unique<Destination>(node.dir());
      shared_->pacs->start_storescp();
      shared_->http_port = free_tcp_port();
      node.config()["destinations"] = json::array({shared_->pacs->config_entry()});
      // The demo lung model at the quickstart's threshold: one lung on each side of this image.
      node.config()["model"]["segmenter"] = {{"checkpoint", "demo"}, {"threshold", 0.93}};
      node.config()["cluster"] = {{"node_id", "page-node"}, {"address", "page-host.example"}};
      node.config()["http"] = {{"port", shared_->http_port},
                               {"tokens", json::array({{{"sha256", kReadTokenSha256}, {"role", "read"}}})}};
      node.start();
      const CommandResult sent = node.storescu({kChest});
      if (store_successes(sent.output) != 1) throw std::runtime_error("storescu failed:\n" + sent.output);
      const json status = node.wait_for([](const json& s) { return delivered_outputs(s) >= 3; }, 300s);
      if (delivered_outputs(status) != 3 || status["jobs"].size() != 1)
        throw std::runtime_error("the example's SR, SC and SEG were not delivered:\n" + status.dump(2));
      shared_->job = status["jobs"][0];
    } catch (const std::exception& e) {
      shared_->error = e.what();
    }
  }

  static void TearDownTestSuite() {
    if (shared_ && shared_->pacs) shared_->pacs->stop();
    delete shared_;
    shared_ = nullptr;
  }

  void SetUp() override {
    if (!fs::exists(kChromium)) GTEST_SKIP() << kChromium << " is not installed (Debian package chromium)";
    ASSERT_TRUE(shared_->error.empty()) << shared_->error << (shared_->node ? "\nnode log:\n" + shared_->node->log() : "");
  }

  const json& job() const { return shared_->job; }
  const fs::path& dir() const { return shared_->node->dir(); }
  std::string page_url(const std::string& fragment = "") const {
    return "http://127.0.0.1:" + std::to_string(shared_->http_port) + "/" + fragment;
  }

  // Headless Chromium on `url`, off the network, with a fresh profile; `action` is --dump-dom
  // (the DOM is the output) or --screenshot=FILE. Its log goes to a file of its own.
  CommandResult chromium(const std::string& url, const std::string& action) const {
    const std::string run = std::to_string(++shared_->chromium_runs);
    const fs::path profile = dir() / ("chromium-profile-" + run);
    const std::string command =
        kChromium +
        " --headless=new --no-sandbox --disable-gpu --no-first-run --no-default-browser-check"
        " --disable-background-networking --disable-component-update --disable-sync --disable-extensions"
        " --disable-default-apps --disable-breakpad --metrics-recording-only --mute-audio"
        " --user-data-dir=" + quoted(profile.string()) +
        " '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1' --no-proxy-server"
        " --virtual-time-budget=15000 --window-size=1280,900 " + action + " " + quoted(url) +
        " 2>" + quoted((dir() / ("chromium-" + run + ".log")).string());
    return run_command(command, 120s);
  }

  std::string dom(const std::string& url) const {
    const CommandResult result = chromium(url, "--dump-dom");
    EXPECT_EQ(result.status, 0) << result.output;
    EXPECT_NE(result.output.find("</html>"), std::string::npos) << result.output;
    return result.output;
  }

  // The API's own answer to `token` on the job list: HTTP status and body.
  std::pair<int, json> api_answer(const std::string& token) const {
    const CommandResult answer = run_command(
        std::string(EVAX_PYTHON) +
        " -c \"import sys, urllib.request, urllib.error\n"
        "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
        "request = urllib.request.Request(sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]})\n"
        "try:\n  r = opener.open(request, timeout=20); print(r.status); print(r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n  print(e.code); print(e.read().decode())\" " +
        quoted(page_url("api/v1/jobs?limit=1")) + " " + quoted(token));
    const std::size_t newline = answer.output.find('\n');
    try {
      return {std::stoi(answer.output.substr(0, newline)), json::parse(answer.output.substr(newline + 1))};
    } catch (const std::exception&) {
      ADD_FAILURE() << answer.output;
      return {-1, json()};
    }
  }

  // The form is shown, the dashboard hidden, and nothing of the job is in the page.
  void expect_only_the_token_form(const std::string& page) const {
    const std::string form = opening_tag(page, "id=\"token-form\"");
    ASSERT_FALSE(form.empty()) << page;
    EXPECT_FALSE(has_attribute(form, "hidden")) << form;
    EXPECT_NE(page.find("type=\"password\""), std::string::npos) << page;
    EXPECT_TRUE(has_attribute(opening_tag(page, "id=\"dashboard\""), "hidden")) << page;
    EXPECT_EQ(page.find("class=\"job\""), std::string::npos) << page;
    EXPECT_EQ(page.find("class=\"finding\""), std::string::npos) << page;
    EXPECT_EQ(page.find("sc-thumbnail"), std::string::npos) << page;
    EXPECT_EQ(page.find(job()["study_instance_uid"].get<std::string>()), std::string::npos) << page;
    EXPECT_EQ(page.find(kDemoBadge), std::string::npos) << page;
  }

  static Shared* shared_;
};

Shared* StatusPage::shared_ = nullptr;

TEST_F(StatusPage, ShowsTheDeliveredJobItsFindingsLungsThumbnailAndTheNodesHealth) {
  const std::string page = dom(page_url("#token=" + kReadToken));
  const std::string id = std::to_string(job()["id"].get<int>());
  const std::string study = job()["study_instance_uid"];

  // Signed in: the form is hidden, no error is shown, the page says when it refreshed.
  EXPECT_TRUE(has_attribute(opening_tag(page, "id=\"token-form\""), "hidden")) << page;
  EXPECT_TRUE(has_attribute(opening_tag(page, "id=\"error\""), "hidden")) << page;
  EXPECT_EQ(text_after(page, "id=\"last-refresh\"").rfind("Updated ", 0), 0u) << page;

  // The job's row: done, the full study UID in a title, its 3 outputs delivered.
  const std::string row = element_at(page, "data-job-id=\"" + id + "\"", "</tr>");
  ASSERT_FALSE(row.empty()) << page;
  EXPECT_EQ(row.rfind("<tr class=\"job\"", 0), 0u) << row;
  EXPECT_EQ(occurrences(page, "<tr class=\"job\""), 1u) << page;
  EXPECT_EQ(text_after(row, "class=\"badge state-"), "done") << row;
  EXPECT_NE(row.find("title=\"" + study + "\""), std::string::npos) << row;
  EXPECT_NE(row.find(">3/3<"), std::string::npos) << row;

  // Its details, shown by default: the demo badge, the top 6 findings as `status` has them.
  const std::string detail = section(page, "job-detail");
  ASSERT_NE(detail.find("Job #" + id), std::string::npos) << detail;
  EXPECT_NE(detail.find(kDemoBadge), std::string::npos) << detail;
  const auto expected = expected_findings(job());
  ASSERT_EQ(expected.size(), 6u) << job().dump(2);
  EXPECT_EQ(rendered_findings(detail), expected) << detail;

  // The lungs, right then left, in cm² (area_mm2 / 100, one decimal).
  const json& lungs = job()["images"][0]["segmentation"]["lungs"];
  ASSERT_EQ(lungs.size(), 2u) << job().dump(2);
  std::size_t previous = 0;
  for (const auto& lung : lungs) {
    const std::string side = lung["laterality"] == "right" ? "Right lung" : "Left lung";
    char area[32];
    std::snprintf(area, sizeof area, "%.1f cm²", lung["area_mm2"].get<double>() / 100.0);
    const std::size_t at = detail.find("<span class=\"lung-side\">" + side + "</span><span class=\"lung-area\">" + area + "</span>");
    EXPECT_NE(at, std::string::npos) << side << " " << area << "\n" << detail;
    EXPECT_GE(at, previous) << detail;
    previous = at == std::string::npos ? previous : at;
  }

  // The Secondary Capture's thumbnail, fetched with the token and shown from a blob: URL.
  const std::string thumbnail = opening_tag(detail, "class=\"sc-thumbnail\"");
  ASSERT_FALSE(thumbnail.empty()) << detail;
  EXPECT_EQ(thumbnail.rfind("<img", 0), 0u) << thumbnail;
  EXPECT_NE(thumbnail.find(" src=\"blob:http://127.0.0.1:" + std::to_string(shared_->http_port) + "/"), std::string::npos)
      << thumbnail;
  EXPECT_NE(thumbnail.find(" alt=\""), std::string::npos) << thumbnail;

  // Each of SR, SC and SEG delivered to the PACS.
  EXPECT_EQ(occurrences(detail, "<tr class=\"output\""), 3u) << detail;
  EXPECT_EQ(occurrences(detail, "class=\"badge state-delivered\">delivered<"), 3u) << detail;
  for (const char* kind : {">SR<", ">SC<", ">SEG<"}) EXPECT_NE(detail.find(kind), std::string::npos) << kind << "\n" << detail;

  // Health: ready, every check OK.
  const std::string health = section(page, "health");
  EXPECT_NE(health.find("<p class=\"readiness ready\">"), std::string::npos) << health;
  EXPECT_NE(health.find(">Ready</p>"), std::string::npos) << health;
  EXPECT_GE(occurrences(health, "<li class=\"check ok\">"), 4u) << health;
  EXPECT_EQ(occurrences(health, "<li class=\"check fail\">"), 0u) << health;

  // Queue: nothing waiting, nothing failed.
  const std::string queue = section(page, "queue");
  for (const char* state : {"queued", "running", "failed"}) {
    const std::string counter = element_at(queue, "data-state=\"" + std::string(state) + "\"", "</button>");
    EXPECT_EQ(text_after(counter, "class=\"count\""), "0") << state << "\n" << queue;
  }

  // The destination, idle, with the three results delivered.
  const std::string destinations = section(page, "destinations");
  EXPECT_EQ(text_after(destinations, "class=\"destination-name\""), "pacs") << destinations;
  EXPECT_EQ(text_after(destinations, "class=\"badge state-"), "idle") << destinations;
  EXPECT_NE(destinations.find("<b>3</b> delivered"), std::string::npos) << destinations;
  EXPECT_NE(destinations.find("<b>0</b> dead"), std::string::npos) << destinations;

  // The nodes: this one, alive, holding no work.
  const std::string nodes = section(page, "nodes");
  EXPECT_EQ(occurrences(nodes, "<tr class=\"node"), 1u) << nodes;
  const std::string node_row = element_at(nodes, "data-node=\"page-node\"", "</tr>");
  ASSERT_FALSE(node_row.empty()) << nodes;
  EXPECT_NE(node_row.find("class=\"node self\""), std::string::npos) << node_row;
  EXPECT_EQ(text_after(node_row, "class=\"node-id\""), "page-node") << node_row;
  EXPECT_NE(node_row.find("(this node)"), std::string::npos) << node_row;
  EXPECT_NE(node_row.find("<td>page-host.example</td>"), std::string::npos) << node_row;
  EXPECT_EQ(text_after(node_row, "class=\"badge state-"), "alive") << node_row;
  EXPECT_EQ(text_after(node_row, "class=\"node-jobs\""), "0") << node_row;
  EXPECT_EQ(text_after(node_row, "class=\"node-sending\""), "0") << node_row;
  // Retrievals from a PACS: none asked for on this node.
  const std::string retrievals = section(page, "retrievals");
  EXPECT_NE(retrievals.find("No study retrieved from a source yet."), std::string::npos) << retrievals;
}

TEST_F(StatusPage, WithoutATokenShowsOnlyTheTokenForm) {
  const std::string page = dom(page_url());
  expect_only_the_token_form(page);
  EXPECT_TRUE(has_attribute(opening_tag(page, "id=\"token-error\""), "hidden")) << page;
}

TEST_F(StatusPage, AWrongTokenShowsTheTokenFormWithTheServersMessage) {
  const auto [http_status, body] = api_answer("wrong-token-456");
  ASSERT_EQ(http_status, 401) << body;
  const std::string message = body["error"]["message"];
  ASSERT_FALSE(message.empty()) << body;

  const std::string page = dom(page_url("#token=wrong-token-456"));
  expect_only_the_token_form(page);
  const std::string error = element_at(page, "id=\"token-error\"", "</p>");
  EXPECT_FALSE(has_attribute(opening_tag(error, "id=\"token-error\""), "hidden")) << error;
  EXPECT_EQ(text_after(error, "id=\"token-error\""), html_text(message)) << error;
}

TEST_F(StatusPage, ScreenshotOfTheLoadedPage) {
  const fs::path screenshot = dir() / "status-page.png";
  const CommandResult shot = chromium(page_url("#token=" + kReadToken), "--screenshot=" + quoted(screenshot.string()));
  ASSERT_EQ(shot.status, 0) << shot.output;
  ASSERT_EQ(png_size(screenshot), std::make_pair(1280, 900)) << screenshot;
  // The token form alone makes about 30 kB, the loaded page with its thumbnail about 250 kB.
  EXPECT_GT(fs::file_size(screenshot), 100'000u) << "the loaded page, not a blank one or the token form";

  if (const char* target = std::getenv("EVAX_UPDATE_SCREENSHOT"); target && *target) {
    fs::create_directories(fs::path(target).parent_path());
    fs::copy_file(screenshot, target, fs::copy_options::overwrite_existing);
    std::printf("status page screenshot written to %s\n", target);
  }
}

}  // namespace
}  // namespace evax::testing
