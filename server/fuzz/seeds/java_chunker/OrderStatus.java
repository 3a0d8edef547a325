package com.acme.shop.order.constant;

/**
 * 订单状态
 * <pre>
 * 0 -> 待付款
 * 1 -> 待发货（已付款）
 * 2 -> 已发货
 * 3 -> 已完成
 * 4 -> 已关闭
 * 5 -> 无效订单
 * </pre>
 */
public enum OrderStatus {
    /** 待付款 */
    WAIT_PAY(0, "待付款"),
    /** 待发货：支付成功，等待商家发货 */
    WAIT_DELIVER(1, "待发货"),
    /** 已发货 */
    DELIVERED(2, "已发货"),
    /** 已完成：用户确认收货或超时自动确认 */
    FINISHED(3, "已完成"),
    /** 已关闭：用户取消、超时未支付或后台关闭 */
    CLOSED(4, "已关闭"),
    /** 无效订单 */
    INVALID(5, "无效订单");

    private final int value;
    private final String desc;

    OrderStatus(int value, String desc) {
        this.value = value;
        this.desc = desc;
    }

    public int getValue() {
        return value;
    }

    public String getDesc() {
        return desc;
    }

    /**
     * 根据数据库中的状态值查找枚举，找不到时返回 null
     */
    public static OrderStatus of(Integer value) {
        if (value == null) {
            return null;
        }
        for (OrderStatus status : values()) {
            if (status.value == value) {
                return status;
            }
        }
        return null;
    }
}
