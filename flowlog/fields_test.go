package flowlog

import (
	"testing"
)

func TestFieldNames(t *testing.T) {
	cases := map[string]string{
		"srcaddr": "srcAddr", "dstport": "dstPort", "log-status": "logStatus", "account-id": "accountId",
		"interface-id": "interfaceId", "tcp-flags": "tcpFlags", "pkt-srcaddr": "pktSrcAddr",
		"flow-direction": "flowDirection", "traffic-path": "trafficPath", "pkt-src-aws-service": "pktSrcAwsService",
		"ecs-task-id": "ecsTaskId", "encryption-status": "encryptionStatus", "start": "start", "end": "end",
	}
	for name, q := range cases {
		f, ok := FieldByName(name)
		if !ok || f.Query != q {
			t.Errorf("%s: query name %q, want %q", name, f.Query, q)
		}
		if g, ok := FieldByQuery(q); !ok || g.Name != name {
			t.Errorf("FieldByQuery(%q) = %+v", q, g)
		}
	}
	if len(Fields) != 14+7+4+4+10+3+18 {
		t.Errorf("%d fields", len(Fields))
	}
}
