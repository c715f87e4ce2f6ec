package triggers

import "testing"

// TestReleaseShapeName writes the names release cut creates, and reads them back.
func TestReleaseShapeName(t *testing.T) {
	cases := []struct{ shape, version, want string }{
		{DefaultReleaseBranch, "1.3.0", "release/delivery/v1.3.0"},
		{DefaultReleaseBranch, "1.3.0-rc.2", "release/delivery/v1.3.0-rc.2"},
		{"{service}/v{version}", "1.3.0", "delivery/v1.3.0"},
		{"releases/{service}@{version}", "2.0.0", "releases/delivery@v2.0.0"},
		{"{version}-{service}", "1.0.0", "v1.0.0-delivery"},
	}
	for _, tc := range cases {
		s := MustReleaseShape(tc.shape)
		got := s.Name("delivery", tc.version)
		if got != tc.want {
			t.Errorf("%s: Name = %q, want %q", tc.shape, got, tc.want)
		}
		if svc, v, err := s.Parse(got); err != nil || svc != "delivery" || v != tc.version {
			t.Errorf("%s: Parse(%q) = %q %q %v", tc.shape, got, svc, v, err)
		}
	}
}
