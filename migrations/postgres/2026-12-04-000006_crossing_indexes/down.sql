DROP TABLE crossing_wishes;
DROP INDEX orders_symbol_status;
DROP INDEX leases_owner_expires;
