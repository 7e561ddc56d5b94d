package coupontest_test

import (
	"context"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/coupon"
)

// TestImportedCodes: claims take imported codes in import order, the
// stock is capped by the codes there are, and codes imported later are
// found once the counter is reset (as `siyu coupons import` does).
func TestImportedCodes(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t, 2, `campaigns:
  - id: shop
    stock: 10
    trigger: {keywords: [领券]}
    codes: {import: true}
`, time.Now, nil)
	c := r.campaign(t, "shop")
	claim := func(svc *coupon.Service, user string) coupon.Result {
		t.Helper()
		res, err := svc.Claim(ctx, c, coupon.Request{Person: person(user), Trigger: "t-" + user, To: target(user)})
		if err != nil {
			t.Fatalf("Claim(%s): %v", user, err)
		}
		return res
	}
	if added, err := r.stores[0].ImportCodes(ctx, "shop", []string{"C1", "C2", "C3"}, nil); err != nil || added != 3 {
		t.Fatalf("ImportCodes = %d, %v; want 3", added, err)
	}
	for i, user := range []string{"a", "b", "c"} {
		res := claim(r.svcs[i%2], user)
		if want := "C" + string(rune('1'+i)); res.Outcome != coupon.Issued || res.Claim.Code != want {
			t.Errorf("claim %d = %s %q, want issued %q", i, res.Outcome, res.Claim.Code, want)
		}
	}
	if res := claim(r.svcs[0], "d"); res.Outcome != coupon.OutOfStock {
		t.Errorf("fourth claim with three codes = %s, want out_of_stock", res.Outcome)
	}
	if added, err := r.stores[1].ImportCodes(ctx, "shop", []string{"C3", "C4"}, nil); err != nil || added != 1 {
		t.Fatalf("second ImportCodes = %d, %v; want 1 (C3 is there)", added, err)
	}
	if err := redisCounter(r).Reset(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if res := claim(r.svcs[1], "d"); res.Outcome != coupon.Issued || res.Claim.Code != "C4" {
		t.Errorf("claim after more codes = %s %q, want issued C4", res.Outcome, res.Claim.Code)
	}
}
