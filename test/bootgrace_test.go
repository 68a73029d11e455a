package test

import (
	"fmt"
	"strings"
	"testing"
)

// The boot script gives up on a JIT config after JIT_WAIT_SECONDS (the
// harness in constructs/runnerpool proves it leaves then); this shows the
// template sets that to the pool's boot grace, the launch hook's timeout, so
// an instance never outlives the hook that would abandon it anyway.
func TestGivenEachPool_ThenItsInstancesWaitForAJitConfigExactlyTheBootGrace(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		for _, pool := range e.Pools {
			var userData string
			for _, lt := range s.resources(env, "AWS::EC2::LaunchTemplate") {
				ud := flatten(props(lt)["LaunchTemplateData"].(map[string]any)["UserData"].(map[string]any)["Fn::Base64"])
				if strings.Contains(ud, `POOL_NAME="`+pool.Name+`"`) {
					userData = ud
				}
			}
			if userData == "" {
				t.Fatalf("%s: no launch template for pool %s", env, pool.Name)
			}
			want := fmt.Sprintf(`JIT_WAIT_SECONDS="%d"`, pool.BootGraceMinutes*60)
			if !strings.Contains(userData, want+"\n") {
				t.Errorf("%s pool %s: user data lacks %s (the boot grace of %d minutes)", env, pool.Name, want, pool.BootGraceMinutes)
			}
		}
	}
}
