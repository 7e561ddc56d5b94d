// Package coupontest holds bot/coupon's tests on its real stores
// (sqlstore.Coupons and redisstore.CouponCounter): on MariaDB and Redis
// when MYSQL_DSN and REDIS_URL are set, on SQLite and miniredis
// otherwise. bot/coupon itself may not import the stores.
package coupontest
