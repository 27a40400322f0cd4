// The admin server's upload route (POST /dicomweb/studies) wired to the STOW-RS intake: the
// admin server and the dicomweb module know nothing of each other, only these plain records.
#pragma once

#include "evax/admin/admin_server.h"
#include "evax/dicomweb/stow_intake.h"

namespace evax::app {

// `intake` must outlive the admin server the route is given to.
admin::UploadRoute stow_upload_route(dicomweb::StowIntake& intake);

}  // namespace evax::app
