FROM --pull=always alpine
