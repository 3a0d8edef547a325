package com.acme.shop.common.exception;

import com.acme.shop.common.api.ResultCode;

/**
 * 断言处理类，用于抛出各种API异常
 */
public class Asserts {

    private Asserts() {
    }

    public static void fail(String message) {
        throw new ApiException(message);
    }

    public static void fail(ResultCode errorCode) {
        throw new ApiException(errorCode);
    }
}
