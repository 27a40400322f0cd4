// The coded concepts the Structured Report names a head's label with: the finding itself and
// where in the chest it sits. Plain strings, so the table reads without DCMTK. Internal to the
// reporting module; stateless.
#pragma once

#include <string>

namespace evax::reporting {

// One coded entry (Code Value, Coding Scheme Designator, Code Meaning).
struct Code {
  std::string value;
  std::string scheme;
  std::string meaning;
};

// The node's private coding scheme, for findings SNOMED CT and DICOM have no fitting code for;
// listed in the SR's Coding Scheme Identification Sequence under this name.
inline constexpr const char* kPrivateScheme = "99EVAX";
inline constexpr const char* kPrivateSchemeName = "EVA-X node private findings";

struct FindingCodes {
  Code finding;
  Code site;  // the Finding Site
};

// The codes for a head's label (CXR14, CheXpert and COVIDx labels, spelled as the heads spell
// them). An unknown label never fails: it gets a 99EVAX code with the label as meaning.
FindingCodes finding_codes(const std::string& label);

// The concept of the probability NUM of a finding, in 99EVAX: one per finding and decision, so
// that the name a viewer draws next to the value says both ("Pleural effusion (present)"). Its
// code value is "P+" or "P-" and 8 hex digits of the finding's code (stable across reports).
Code probability_concept(const Code& finding, bool present);

// The label as SR text may carry it (Code Meaning is LO: printable, no backslash, at most 64
// characters); an empty label becomes "unnamed label".
std::string printable_label(const std::string& label);

}  // namespace evax::reporting
