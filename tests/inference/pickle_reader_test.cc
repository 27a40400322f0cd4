// The restricted unpickler on hand-written pickles: what it admits, what it refuses, and that
// refusing names the global.
#include <gtest/gtest.h>

#include "pickle_reader.h"

namespace evax::inference {
namespace {

using namespace std::string_literals;
using Kind = PickleValue::Kind;

std::string error_of(const std::string& pickle) {
  try {
    read_restricted_pickle(pickle);
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

TEST(PickleReader, ReadsPlainContainersAndScalars) {
  // {'a': [1, 2.5, True, None], 'b': (u'x',)}  (protocol 2)
  const std::string pickle =
      "\x80\x02}q\x00(X\x01\x00\x00\x00" "aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00\x88Ne"
      "X\x01\x00\x00\x00" "bq\x03X\x01\x00\x00\x00x\x85q\x04u."s;
  const PickleRef root = read_restricted_pickle(pickle);
  ASSERT_TRUE(root->is(Kind::dict));
  const PickleRef list = root->find("a");
  ASSERT_TRUE(list && list->is(Kind::list));
  ASSERT_EQ(list->items.size(), 4u);
  EXPECT_EQ(list->items[0]->integer, 1);
  EXPECT_DOUBLE_EQ(list->items[1]->real, 2.5);
  EXPECT_TRUE(list->items[2]->boolean);
  EXPECT_TRUE(list->items[3]->is(Kind::none));
  ASSERT_TRUE(root->find("b")->is(Kind::tuple));
  EXPECT_EQ(root->find("b")->items[0]->text, "x");
}

TEST(PickleReader, RefusesOsSystemAndNamesIt) {
  const std::string pickle = "\x80\x02\x63posix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."s;
  const std::string error = error_of(pickle);
  EXPECT_NE(error.find("'posix.system'"), std::string::npos) << error;
}

TEST(PickleReader, RefusesBuiltinsEvalThroughStackGlobal) {
  // protocol 4: SHORT_BINUNICODE 'builtins', SHORT_BINUNICODE 'eval', STACK_GLOBAL
  const std::string pickle = "\x80\x04\x8c\x08\x62uiltins\x8c\x04\x65val\x93."s;
  EXPECT_NE(error_of(pickle).find("'builtins.eval'"), std::string::npos);
}

TEST(PickleReader, RefusesInstOpcodeThatWouldCallAClass) {
  const std::string pickle = "\x80\x02(ios\nsystem\n."s;
  EXPECT_NE(error_of(pickle).find("opcode 0x69"), std::string::npos) << error_of(pickle);
}

TEST(PickleReader, TruncatedPickleIsAClearError) {
  const std::string pickle = "\x80\x02}q\x00(X\x05\x00\x00\x00"s;
  EXPECT_NE(error_of(pickle).find("truncated"), std::string::npos) << error_of(pickle);
}

TEST(PickleReader, ArgparseNamespaceIsAnInertPlaceholder) {
  // argparse.Namespace() then BUILD {'lr': 0.1}, as fine-tune checkpoints store `args`
  const std::string pickle = "\x80\x02\x63\x61rgparse\nNamespace\n)\x81}X\x02\x00\x00\x00lrG?\xb9\x99\x99\x99\x99\x99\x9asb."s;
  const PickleRef root = read_restricted_pickle(pickle);
  EXPECT_TRUE(root->is(Kind::inert));
  EXPECT_EQ(root->text, "argparse.Namespace");
}

TEST(PickleReader, OrderedDictMetadataBuildIsAccepted) {
  // OrderedDict() with BUILD of {'_metadata': {}} as mmcv writes it
  const std::string pickle = "\x80\x02\x63\x63ollections\nOrderedDict\n)R}X\x09\x00\x00\x00_metadata}sb."s;
  EXPECT_TRUE(read_restricted_pickle(pickle)->is(Kind::dict));
}

TEST(PickleReader, NumpyPaletteGlobalsAreAdmittedButNeverCalled) {
  // numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b') -> an inert placeholder
  const std::string pickle =
      "\x80\x02\x63numpy.core.multiarray\n_reconstruct\n\x63numpy\nndarray\nK\x00\x85\x43\x01\x62\x87R."s;
  const PickleRef root = read_restricted_pickle(pickle);
  EXPECT_TRUE(root->is(Kind::inert));
  EXPECT_EQ(root->text, "numpy.core.multiarray._reconstruct");
}

TEST(PickleReader, TensorRebuildRecordsTheStorageView) {
  // _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 6), 0, (2, 3), (3, 1), False, OrderedDict())
  const std::string pickle =
      "\x80\x02\x63torch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage\x63torch\nFloatStorage\n"
      "X\x01\x00\x00\x00\x30X\x03\x00\x00\x00\x63puK\x06tQK\x00K\x02K\x03\x86K\x03K\x01\x86\x89"
      "\x63\x63ollections\nOrderedDict\n)RtR."s;
  const PickleRef root = read_restricted_pickle(pickle);
  ASSERT_TRUE(root->is(Kind::tensor));
  EXPECT_EQ(root->tensor.storage.key, "0");
  EXPECT_EQ(root->tensor.storage.numel, 6);
  EXPECT_EQ(root->tensor.sizes, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(root->tensor.strides, (std::vector<std::int64_t>{3, 1}));
}

TEST(PickleReader, MemoReferencesShareTheObject) {
  // [[]] where the inner list is memoised then fetched again: l = []; [l, l]
  const std::string pickle = "\x80\x02](]q\x00h\x00\x65."s;
  const PickleRef root = read_restricted_pickle(pickle);
  ASSERT_EQ(root->items.size(), 2u);
  EXPECT_EQ(root->items[0].get(), root->items[1].get());
}

}  // namespace
}  // namespace evax::inference
