package main

import (
	"context"
	"errors"
)

// couponCapability wires bot/coupon: not built yet.
func couponCapability() capability { return capability{name: "coupon"} }

// cmdCoupons is `siyu coupons`: not built yet.
func cmdCoupons(context.Context, runEnv) error { return errors.New("coupons: not built yet") }
