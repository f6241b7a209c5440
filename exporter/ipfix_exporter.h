// The IPFIX FlowExporter: MessageExporter over an IpfixEncoder (see message_exporter.h).
#pragma once

#include "exporter/message_exporter.h"
