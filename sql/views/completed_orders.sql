-- Orders that count for customer value: completed, not refunded or cancelled.
CREATE VIEW completed_orders AS
SELECT * FROM model.orders WHERE status = 'completed';
