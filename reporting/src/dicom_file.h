// The DCMTK plumbing both result builders share: reading the received file, copying its
// patient and study attributes, the equipment and series attributes every result carries, and
// turning a dataset into Part 10 bytes. Internal to the reporting module.
#pragma once

#include <dcmtk/dcmdata/dcfilefo.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "evax/reporting/result_objects.h"

namespace evax::reporting {

// The received file, loaded whole (pixel data included).
std::expected<std::unique_ptr<DcmFileFormat>, std::string> load_source(const std::string& path);

// Patient (name, id, issuer, birth date, sex), General Study (UID, date, time, referring
// physician, study id, accession number, description) and SpecificCharacterSet, as received.
// Absent type 2 attributes are written empty.
void copy_patient_and_study(DcmItem& source, DcmItem& target);

// Manufacturer, model, station, software versions and the series/instance creation time, and
// the Contributing Equipment Sequence: the algorithm, then the lung model when one contributed.
void put_equipment(const AlgorithmIdentity& algorithm, DcmItem& target, const AlgorithmIdentity* lung_model = nullptr);

// Contributing Equipment Sequence (0018,A001) per IHE AIR, one item per algorithm: Purpose of
// Reference (Newcode1, 99IHE, "Processing Algorithm"), Manufacturer, Manufacturer's Model Name,
// Software Versions, Device UID (device_uid()). Replaces any sequence there; null entries skipped.
void put_contributing_equipment(const std::vector<const AlgorithmIdentity*>& algorithms, DcmItem& target);

// SoftwareVersions as every object writes it: the node, then the model ("evax-node 0.1.0\EVA-X-S cxr14").
std::string software_versions(const AlgorithmIdentity& algorithm);

// "EVA-X-S cxr14 (DEMO MODEL - UNTRAINED WEIGHTS)" or "EVA-X-S cxr14".
std::string model_description(const AlgorithmIdentity& algorithm);

std::string new_uid(const char* root);

// The dataset as a Part 10 file in explicit VR little endian, with a fresh meta header.
std::expected<std::vector<std::uint8_t>, std::string> to_part10(DcmFileFormat& file);

// Part 10 bytes parsed back into a file, as a receiver would read them.
std::expected<std::unique_ptr<DcmFileFormat>, std::string> parse_part10(const std::vector<std::uint8_t>& bytes);

std::string element_string(DcmItem& item, const DcmTagKey& tag);

}  // namespace evax::reporting
