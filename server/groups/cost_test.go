package groups_test

import (
	"testing"

	"github.com/parley-chat/parley/server/groups"
	"github.com/parley-chat/parley/server/httpapi"
)

// TestCostMatchesOneToOne: a send to many charges its content as one
// envelope of a 1:1 send does, and DeviceCost for each device.
func TestCostMatchesOneToOne(t *testing.T) {
	if groups.SendOverhead != httpapi.SendOverhead {
		t.Fatalf("groups.SendOverhead = %d, httpapi.SendOverhead = %d", groups.SendOverhead, httpapi.SendOverhead)
	}
	if groups.Cost(100, 0) != 100+groups.SendOverhead || groups.Cost(100, 10)-groups.Cost(100, 0) != 10*groups.DeviceCost {
		t.Fatalf("Cost(100, 0) = %d, Cost(100, 10) = %d", groups.Cost(100, 0), groups.Cost(100, 10))
	}
}
